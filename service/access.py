"""Who may call what: API keys for ingestion (and for reads when configured), and CORS for the shop's origins.

Each view's `@operation` says whether it writes, reads or is public. A key comes
in `X-API-Key` or `Authorization: Bearer`; it is compared with every configured
key through SHA-256 digests and `hmac.compare_digest`, so neither its content nor
its length shows in the timing. No key: 401. A key that isn't configured: 403.
"""

from __future__ import annotations

import hashlib
import hmac

from flask import Flask, current_app, request
from flask_cors import CORS

from service.db import get_settings
from service.errors import ApiError

WRITE, READ, PUBLIC = "write", "read", "public"
KEY_HEADER = "X-API-Key"


def presented_key() -> str | None:
    if KEY_HEADER in request.headers:
        return request.headers[KEY_HEADER]
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" and credentials.strip() else None


def digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).digest()


def key_matches(given: str, keys: tuple[str, ...]) -> bool:
    """Compare against every key, always all of them, in constant time each."""
    given_digest = digest(given)
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(given_digest, digest(key))
    return matched


def required_keys(access: str) -> tuple[str, ...] | None:
    """The keys that open an endpoint of this access class; None when it is open to all."""
    settings = get_settings()
    if access == WRITE:
        return settings.ingest_keys
    if access == READ and settings.read_keys:
        return settings.read_keys + settings.ingest_keys
    return None


def check_access() -> None:
    view = current_app.view_functions.get(request.endpoint) if request.endpoint else None
    described = getattr(view, "operation", None)
    if described is None or request.method == "OPTIONS":
        return
    keys = required_keys(described.access)
    if keys is None:
        return
    given = presented_key()
    if given is None:
        raise ApiError(401, f"this endpoint needs an API key in the {KEY_HEADER} header "
                            "(or Authorization: Bearer <key>)", field=KEY_HEADER, error="unauthorized",
                       headers={"WWW-Authenticate": 'Bearer realm="couchrec"'})
    if not keys:
        raise ApiError(403, "no API key opens this endpoint on this service (none is configured)",
                       field=KEY_HEADER, error="forbidden")
    if not key_matches(given, keys):
        raise ApiError(403, "this API key may not call this endpoint", field=KEY_HEADER, error="forbidden")


def init_app(app: Flask, cors_origins: tuple[str, ...]) -> None:
    app.before_request(check_access)
    if cors_origins:
        CORS(app, origins=list(cors_origins), allow_headers=["Content-Type", "Authorization", KEY_HEADER],
             methods=["GET", "POST", "PUT"], max_age=600, vary_header=True, always_send=False)
