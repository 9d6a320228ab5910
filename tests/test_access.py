"""Access control against the running service: API keys, CORS, and the database members set by install.

The database-side part (a non-admin member can write logs but not design docs
or `_security`) needs a real CouchDB: PouchDB Server runs without admins and
enforces nothing, so that test runs only when COUCHDB_URL is a CouchDB 3 with
admin credentials.
"""

import subprocess
import sys
import uuid

import pytest
import requests

from loader.couchdb.couch import Couch
from loader.settings import Settings, SettingsError
from tests.servers import REPO_DIR, LiveService

INGEST_KEYS = ("ingest-key-one-0123456789", "ingest-key-two-0123456789")
READ_KEY = "read-key-only-0123456789"
SHOP = "https://shop.example.com"
LOG = {"log_type": "access", "item_id": "i1"}


@pytest.fixture(scope="module")
def keyed(couchdb_url, module_shop):
    """The service with two ingestion keys, a read key and one allowed origin."""
    live = LiveService(couchdb_url, module_shop.db, extra_env={
        "COUCHREC_INGEST_KEYS": ",".join(INGEST_KEYS), "COUCHREC_READ_KEYS": READ_KEY,
        "COUCHREC_CORS_ORIGINS": f"{SHOP}, http://127.0.0.1:3000",
    })
    yield live
    live.stop()


def new_id() -> str:
    return "acl-" + uuid.uuid4().hex[:10]


def test_ingestion_without_a_key_is_401_and_writes_nothing(keyed, module_shop):
    doc_id = new_id()
    answer = keyed.request("PUT", f"/logs/{doc_id}", json=LOG, key=None)
    assert answer.status_code == 401
    assert answer.json()["field"] == "X-API-Key"
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert keyed.request("POST", "/logs/_bulk", json=[LOG], key=None).status_code == 401
    assert module_shop.get_doc(doc_id) is None


@pytest.mark.parametrize("key", ["wrong-key-0123456789abcdef", READ_KEY, INGEST_KEYS[0][:-1], INGEST_KEYS[0] + "x"])
def test_ingestion_with_a_key_that_is_not_an_ingestion_key_is_403(keyed, module_shop, key):
    doc_id = new_id()
    answer = keyed.request("PUT", f"/logs/{doc_id}", json=LOG, key=key)
    assert answer.status_code == 403 and answer.json()["error"] == "forbidden"
    assert module_shop.get_doc(doc_id) is None


@pytest.mark.parametrize("key", INGEST_KEYS)
def test_every_configured_ingestion_key_writes(keyed, module_shop, key):
    doc_id = new_id()
    assert keyed.request("PUT", f"/logs/{doc_id}", json=LOG, key=key).status_code == 201
    bearer = keyed.request("POST", "/logs", json=LOG, key=None, headers={"Authorization": f"Bearer {key}"})
    assert bearer.status_code == 201
    assert module_shop.get_doc(doc_id) and module_shop.get_doc(bearer.json()["id"])


def test_keyed_reads_take_a_read_or_ingestion_key(keyed):
    path = "/products/popular"
    assert keyed.request("GET", path, key=None).status_code == 401
    assert keyed.request("GET", path, key="wrong-key-0123456789abcdef").status_code == 403
    assert keyed.request("GET", path, key=READ_KEY).status_code == 200
    assert keyed.request("GET", path, key=INGEST_KEYS[1]).status_code == 200


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/", "/docs", "/openapi.json", "/assets/dashboard.js"])
def test_probes_and_pages_stay_public(keyed, path):
    assert keyed.request("GET", path, key=None).status_code == 200


def test_without_configured_ingestion_keys_nobody_writes(couchdb_url, module_shop):
    closed = LiveService(couchdb_url, module_shop.db, extra_env={"COUCHREC_INGEST_KEYS": ""})
    try:
        answer = closed.request("PUT", f"/logs/{new_id()}", json=LOG, key=INGEST_KEYS[0])
        reads = closed.request("GET", "/products/popular", key=None)
    finally:
        closed.stop()
    assert answer.status_code == 403 and "none is configured" in answer.json()["message"]
    assert reads.status_code == 200, "reads are public unless COUCHREC_READ_KEYS is set"


def test_the_openapi_document_says_which_operations_need_a_key(keyed):
    document = keyed.request("GET", "/openapi.json", key=None).json()
    put = document["paths"]["/logs/{doc_id}"]["put"]
    assert put["security"] == [{"apiKey": []}, {"bearer": []}] and {"401", "403"} <= set(put["responses"])
    assert "security" in document["paths"]["/products/popular"]["get"]
    assert "security" not in document["paths"]["/healthz"]["get"]


def test_cors_admits_only_the_listed_origins(keyed):
    preflight = {"Access-Control-Request-Method": "PUT", "Access-Control-Request-Headers": "x-api-key,content-type"}
    allowed = keyed.request("OPTIONS", "/logs/x", key=None, headers={"Origin": SHOP, **preflight})
    assert allowed.headers["Access-Control-Allow-Origin"] == SHOP
    assert "x-api-key" in allowed.headers["Access-Control-Allow-Headers"].lower()
    stranger = keyed.request("OPTIONS", "/logs/x", key=None, headers={"Origin": "https://evil.example", **preflight})
    assert "Access-Control-Allow-Origin" not in stranger.headers
    read = keyed.request("GET", "/healthz", key=None, headers={"Origin": SHOP})
    assert read.headers["Access-Control-Allow-Origin"] == SHOP
    assert "Access-Control-Allow-Origin" not in keyed.request("GET", "/healthz", key=None).headers


@pytest.mark.parametrize("variable, value, message", [
    ("COUCHREC_INGEST_KEYS", "short", "at least 16 characters"),
    ("COUCHREC_READ_KEYS", "fine-key-0123456789,tiny", "at least 16 characters"),
    ("COUCHREC_CORS_ORIGINS", "https://shop.example.com/path", "is not an origin"),
])
def test_unusable_access_settings_stop_the_service_from_starting(variable, value, message):
    with pytest.raises(SettingsError, match=message):
        Settings.from_env({variable: value})
    started = subprocess.run([sys.executable, "-c", "from service import create_app; create_app()"], cwd=REPO_DIR,
                             env={"PATH": "/usr/bin:/bin", variable: value}, capture_output=True, text=True)
    assert started.returncode != 0 and message in started.stderr


def test_install_admits_the_service_user_as_a_member(couchdb_url, shop):
    user = "couchrec_svc_" + uuid.uuid4().hex[:8]
    result = subprocess.run(
        [sys.executable, "-c", "from service.cli import main; main()", "designdocs", "install"], cwd=REPO_DIR, capture_output=True, text=True,
        env={"PATH": "/usr/bin:/bin", "COUCHDB_URL": couchdb_url, "COUCHREC_DB": shop.db,
             "COUCHREC_SERVICE_USER": user, "COUCHREC_SERVICE_PASSWORD": "member-password-123"},
    )
    try:
        assert result.returncode == 0, result.stderr
        assert f"user {user}: created" in result.stdout and f"{user} admitted as a member" in result.stdout
        security = shop.db_request("GET", "_security").json()
        assert user in security["members"]["names"]
        session = requests.post(f"{couchdb_url}/_session", json={"name": user, "password": "member-password-123"},
                                timeout=10)
        assert session.status_code == 200 and session.json()["name"] == user
    finally:
        delete_user(shop, user)


def delete_user(couch: Couch, user: str) -> None:
    path = f"_users/org.couchdb.user:{user}"
    found = couch.request("GET", path, ok=(200, 404))
    if found.status_code == 200:
        couch.request("DELETE", path, params={"rev": found.json()["_rev"]})


def member_url(couchdb_url: str, user: str, password: str) -> str:
    scheme, rest = couchdb_url.split("://", 1)
    return f"{scheme}://{user}:{password}@{rest.rsplit('@', 1)[-1]}"


def test_a_member_writes_logs_but_not_design_docs_or_security(couchdb_url, shop):
    if shop.server_info().vendor != "couchdb":
        pytest.skip("PouchDB Server has no admins and enforces no _security; run with COUCHDB_URL=<CouchDB 3 admin>")
    from loader.couchdb import security

    user, password = "couchrec_svc_" + uuid.uuid4().hex[:8], "member-password-123"
    security.ensure_user(shop, user, password)
    security.admit_member(shop, user)
    member = Couch(member_url(couchdb_url, user, password), shop.db)
    try:
        assert member.put_doc("log-1", {"log_type": "access", "item_id": "i1",
                                        "timestamp": "2026-11-21T08:30:00.000Z"})
        refused = member.db_request("PUT", "log-2", json={"log_type": "access"}, ok=(403,))
        assert refused.json()["error"] == "forbidden", "validate_doc_update holds for members"
        assert member.db_request("PUT", "_design/evil", json={"views": {}}, ok=(401, 403)).status_code in (401, 403)
        security = shop.db_request("GET", "_security").json()
        # A single node says 401/403; a cluster's coordinator reports the shards' refusals as 500 no_majority.
        refused = member.db_request("PUT", "_security", json={}, ok=(401, 403, 500))
        assert refused.status_code in (401, 403) or refused.json()["reason"] == "no_majority"
        assert shop.db_request("GET", "_security").json() == security, "_security is unchanged"
        assert shop.get_doc("_design/evil") is None
        stranger = Couch(member_url(couchdb_url, "nobody", "nothing"), shop.db)
        assert stranger.db_request("GET", "", ok=(401, 403)).status_code in (401, 403)
        live = LiveService(member_url(couchdb_url, user, password), shop.db)
        try:
            assert live.get("/readyz").status_code == 200
            assert live.request("PUT", "/logs/through-the-service", json=LOG).status_code == 201
        finally:
            live.stop()
    finally:
        delete_user(shop, user)
