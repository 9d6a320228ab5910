"""The database's members: the service's non-admin CouchDB user, and the `_security` object that admits it.

CouchDB 3 makes a new database admin-only. `couchrec designdocs install` (the only
command that runs with admin credentials) creates the service's user in `_users`
when given its password, and lists it among the database's members; members may
read and write documents but not design documents or `_security`.
"""

from __future__ import annotations

from urllib.parse import quote

from loader.couchdb.couch import Couch

USER_PREFIX = "org.couchdb.user:"


def ensure_user(couch: Couch, name: str, password: str) -> str:
    """Create the user, or set its password; return "created", "updated" or "unchanged"."""
    if password_works(couch, name, password):
        return "unchanged"
    path = "_users/" + quote(USER_PREFIX + name, safe=":")
    current = couch.request("GET", path, ok=(200, 404))
    user = current.json() if current.status_code == 200 else {"_id": USER_PREFIX + name, "name": name,
                                                             "type": "user", "roles": []}
    couch.request("PUT", path, json={**user, "password": password})
    return "updated" if current.status_code == 200 else "created"


def password_works(couch: Couch, name: str, password: str) -> bool:
    response = couch.request("POST", "_session", json={"name": name, "password": password}, ok=(200, 401))
    return response.status_code == 200 and response.json().get("name") == name


def admit_member(couch: Couch, name: str) -> bool:
    """Add `name` to the database's members, keeping every other entry; True when `_security` changed."""
    security = couch.db_request("GET", "_security").json() or {}
    members = security.setdefault("members", {})
    names = members.setdefault("names", [])
    members.setdefault("roles", [])
    security.setdefault("admins", {"names": [], "roles": []})
    if name in names:
        return False
    names.append(name)
    couch.db_request("PUT", "_security", json=security)
    return True
