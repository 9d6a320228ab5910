"""Settings from environment variables, read the same way by every command and the service."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from loader.tuning.tuned import TuningError, from_environment

VIEW_UPDATE_CHOICES = ("true", "lazy", "false")
USER_MODE_CHOICES = ("new", "buy_again")
BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
WEB_ASSETS = str(Path(__file__).resolve().parent.parent / "web" / "node_modules")


class SettingsError(ValueError):
    """An environment variable holds a value we cannot use."""


@dataclass(frozen=True)
class Settings:
    couchdb_url: str = "http://127.0.0.1:5984"
    db: str = "shop"
    timeout: float = 10.0
    view_update: str = "true"
    max_body_bytes: int = 10 * 1024 * 1024
    max_bulk_docs: int = 1000
    cache_seconds: float = 30.0
    web_assets: str = WEB_ASSETS
    ingest_keys: tuple[str, ...] = ()
    read_keys: tuple[str, ...] = ()
    cors_origins: tuple[str, ...] = ()
    neighbours_k: int = 100
    user_mode: str = "new"
    recommend_bought: bool = True
    recommend_overrides: tuple[tuple[str, object], ...] = ()  # loader/tuning/tuned.py's ENVIRONMENT, over stored tuning
    tuning_seconds: float = 10.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> "Settings":
        """Read COUCHDB_URL, COUCHREC_DB, COUCHREC_TIMEOUT, COUCHREC_VIEW_UPDATE, COUCHREC_MAX_BODY_BYTES,
        COUCHREC_MAX_BULK_DOCS, COUCHREC_CACHE_SECONDS, COUCHREC_WEB_ASSETS, COUCHREC_INGEST_KEYS,
        COUCHREC_READ_KEYS, COUCHREC_CORS_ORIGINS, COUCHREC_NEIGHBOURS_K, COUCHREC_USER_MODE,
        COUCHREC_RECOMMEND_BOUGHT, COUCHREC_TUNING_SECONDS and the tuned settings' overrides
        (loader/tuning/tuned.py: ENVIRONMENT); unset ones keep their defaults."""
        defaults = cls()
        view_update = environ.get("COUCHREC_VIEW_UPDATE", defaults.view_update)
        if view_update not in VIEW_UPDATE_CHOICES:
            raise SettingsError(f"COUCHREC_VIEW_UPDATE must be one of {', '.join(VIEW_UPDATE_CHOICES)}, not {view_update!r}")
        return cls(
            couchdb_url=environ.get("COUCHDB_URL", defaults.couchdb_url),
            db=environ.get("COUCHREC_DB", defaults.db),
            timeout=positive(environ, "COUCHREC_TIMEOUT", defaults.timeout, float),
            view_update=view_update,
            max_body_bytes=positive(environ, "COUCHREC_MAX_BODY_BYTES", defaults.max_body_bytes, int),
            max_bulk_docs=positive(environ, "COUCHREC_MAX_BULK_DOCS", defaults.max_bulk_docs, int),
            cache_seconds=positive(environ, "COUCHREC_CACHE_SECONDS", defaults.cache_seconds, float),
            web_assets=environ.get("COUCHREC_WEB_ASSETS", defaults.web_assets),
            ingest_keys=api_keys(environ, "COUCHREC_INGEST_KEYS"),
            read_keys=api_keys(environ, "COUCHREC_READ_KEYS"),
            cors_origins=origins(environ, "COUCHREC_CORS_ORIGINS"),
            neighbours_k=positive(environ, "COUCHREC_NEIGHBOURS_K", defaults.neighbours_k, int),
            **history_settings(environ, defaults),
            recommend_overrides=recommend_overrides(environ),
            tuning_seconds=positive(environ, "COUCHREC_TUNING_SECONDS", defaults.tuning_seconds, float),
        )


def recommend_overrides(environ: Mapping[str, str]) -> tuple[tuple[str, object], ...]:
    """The recommendation settings the environment fixes, over what `couchrec tune` stored."""
    try:
        return tuple(from_environment(environ).items())
    except TuningError as exc:
        raise SettingsError(str(exc)) from None


def history_settings(environ: Mapping[str, str], defaults: Settings) -> dict:
    """Whether users may be shown what they bought before, and the user endpoint's default mode."""
    mode = environ.get("COUCHREC_USER_MODE", defaults.user_mode)
    if mode not in USER_MODE_CHOICES:
        raise SettingsError(f"COUCHREC_USER_MODE must be one of {', '.join(USER_MODE_CHOICES)}, not {mode!r}")
    bought = environ.get("COUCHREC_RECOMMEND_BOUGHT", str(defaults.recommend_bought)).lower()
    if bought not in BOOLEANS:
        raise SettingsError(f"COUCHREC_RECOMMEND_BOUGHT must be true or false, not {environ['COUCHREC_RECOMMEND_BOUGHT']!r}")
    if mode == "buy_again" and not BOOLEANS[bought]:
        raise SettingsError("COUCHREC_USER_MODE=buy_again needs COUCHREC_RECOMMEND_BOUGHT=true: buying again is "
                            "recommending what the user bought")
    return {"user_mode": mode, "recommend_bought": BOOLEANS[bought]}


def positive(environ: Mapping[str, str], name: str, default, kind):
    if name not in environ:
        return default
    try:
        value = kind(environ[name])
    except ValueError:
        value = 0
    if value <= 0:
        raise SettingsError(f"{name} must be a positive {kind.__name__}, not {environ[name]!r}")
    return value


MIN_KEY_LENGTH = 16


def listed(environ: Mapping[str, str], name: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in environ.get(name, "").split(",") if part.strip())


def api_keys(environ: Mapping[str, str], name: str) -> tuple[str, ...]:
    """Comma-separated API keys; each at least MIN_KEY_LENGTH characters, so none is guessable."""
    keys = listed(environ, name)
    short = [key for key in keys if len(key) < MIN_KEY_LENGTH]
    if short:
        raise SettingsError(f"{name}: every key must be at least {MIN_KEY_LENGTH} characters "
                            f"({len(short)} is shorter); generate one with `python -c 'import secrets; print(secrets.token_urlsafe(24))'`")
    return keys


def origins(environ: Mapping[str, str], name: str) -> tuple[str, ...]:
    """Comma-separated origins like https://shop.example.com (scheme and host, no path)."""
    allowed = listed(environ, name)
    for origin in allowed:
        if not re.fullmatch(r"https?://[^/\s]+", origin):
            raise SettingsError(f"{name}: {origin!r} is not an origin like https://shop.example.com")
    return allowed
