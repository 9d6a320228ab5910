"""The recommendation settings `couchrec tune` chooses: their rules, where they are stored, what overrides them.

They live in the shop's database as `_local/couchrec-tuning`: a `_local` document is not
replicated, not in `_changes` (the worker following the orders never sees it), not
mapped by any view and not checked by `validate_doc_update` (which admits logs only), and
the tuning describes the orders of this database, not of a copy. Every service process
reads it at start and again when its `_rev` changes (asked at most every `ttl` seconds);
an environment variable (ENVIRONMENT) overrides a stored value. A stored value out of
range is refused with a message naming it, and the previous settings stay in force.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import asdict, dataclass, fields, replace
from typing import Mapping

from loader.couchdb.couch import Couch, CouchError, CouchUnavailable
from loader.recommendations.history import DEFAULT_HALF_LIFE, DEFAULT_WEIGHT, HALF_LIVES
from loader.recommendations.recommend import DEFAULT_MIN_SUPPORT, DEFAULT_SCORE
from loader.recommendations.scoring import SCORES

TUNING_ID = "_local/couchrec-tuning"
MAX_MIN_SUPPORT = 1_000_000
ENVIRONMENT = {"cart_score": "COUCHREC_CART_SCORE", "cart_min_support": "COUCHREC_CART_MIN_SUPPORT",
               "owner_score": "COUCHREC_OWNER_SCORE", "owner_min_support": "COUCHREC_OWNER_MIN_SUPPORT",
               "weight": "COUCHREC_HISTORY_WEIGHT", "half_life": "COUCHREC_HALF_LIFE"}
log = logging.getLogger("couchrec.tuning")


class TuningError(ValueError):
    """A setting, stored or from the environment, is out of range."""


@dataclass(frozen=True)
class RecommendSettings:
    """How carts are scored alone (`cart_*`) and with their owner (`owner_*`, the blend's weight and half-life)."""

    cart_score: str = DEFAULT_SCORE
    cart_min_support: int = DEFAULT_MIN_SUPPORT
    owner_score: str = DEFAULT_SCORE
    owner_min_support: int = DEFAULT_MIN_SUPPORT
    weight: float = DEFAULT_WEIGHT
    half_life: float | None = DEFAULT_HALF_LIFE

    def as_dict(self) -> dict:
        return asdict(self)


def checked(name: str, value: object, where: str) -> object:
    """`value` if it is in range for setting `name`, else TuningError saying which and why."""
    if name.endswith("_score"):
        if value not in SCORES:
            raise TuningError(f"{where}: {name} must be one of {', '.join(SCORES)}, not {value!r}")
    elif name.endswith("_min_support"):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_MIN_SUPPORT:
            raise TuningError(f"{where}: {name} must be a whole number from 1 to {MAX_MIN_SUPPORT}, not {value!r}")
    elif name == "weight":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise TuningError(f"{where}: weight must be a number from 0 to 1, not {value!r}")
        return float(value)
    elif name == "half_life":
        if value is not None and (isinstance(value, bool) or value not in HALF_LIVES):
            raise TuningError(f"{where}: half_life must be one of {', '.join(f'{h:g}' for h in HALF_LIVES)} "
                              f"(days, the half-lives history/recency serves) or null, not {value!r}")
        return None if value is None else float(value)
    return value


def from_stored(values: object) -> dict:
    """The settings of a stored tuning document's `settings` object, each checked; unknown names are refused."""
    where = f"stored tuning ({TUNING_ID})"
    if not isinstance(values, dict):
        raise TuningError(f"{where}: settings must be an object, not {values!r}")
    known = {field.name for field in fields(RecommendSettings)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise TuningError(f"{where}: unknown setting {unknown[0]!r} (known: {', '.join(sorted(known))})")
    return {name: checked(name, value, where) for name, value in values.items()}


def from_environment(environ: Mapping[str, str]) -> dict:
    """The settings the environment sets (ENVIRONMENT), parsed and checked."""
    found = {}
    for name, variable in ENVIRONMENT.items():
        if variable not in environ:
            continue
        text = environ[variable].strip()
        value: object = text
        if name.endswith("_min_support"):
            value = int(text) if text.isdigit() else text
        elif name == "weight" or (name == "half_life" and text.lower() != "none"):
            try:
                value = float(text)
            except ValueError:
                pass
        elif name == "half_life":
            value = None
        found[name] = checked(name, value, variable)
    return found


def read_stored(couch: Couch) -> dict | None:
    """The stored tuning document, or None when there is none."""
    return couch.get_doc(TUNING_ID)


def store(couch: Couch, settings: RecommendSettings, report: dict) -> str:
    """Write the chosen settings and the report that chose them over the stored ones; answers the new _rev."""
    from_stored(settings.as_dict())
    current = read_stored(couch)
    doc = {"settings": settings.as_dict(), "report": report}
    if current is not None:
        doc["_rev"] = current["_rev"]
    return couch.put_doc(TUNING_ID, doc)


class TunedSettings:
    """The settings in force in one service process: stored ones over the defaults, the environment over both.

    `current()` asks for the document's revision at most every `ttl` seconds; a new revision is read and
    checked, and a refused one is logged and kept out (`refused` says why) while the previous settings stay."""

    def __init__(self, couch: Couch, overrides: Mapping[str, object], *, ttl: float = 10.0):
        self.couch, self.overrides, self.ttl = couch, dict(overrides), ttl
        self.stored: dict = {}
        self.document: dict | None = None
        self.refused: str | None = None
        self.rev: str | None = None
        self.checked_at = float("-inf")
        self.lock = threading.Lock()

    def current(self) -> RecommendSettings:
        if time.monotonic() - self.checked_at >= self.ttl:
            self.refresh()
        return replace(RecommendSettings(), **{**self.stored, **self.overrides})

    def sources(self) -> dict[str, str]:
        """Where each setting in force comes from: environment, stored or default."""
        return {field.name: "environment" if field.name in self.overrides else
                "stored" if field.name in self.stored else "default" for field in fields(RecommendSettings)}

    def refresh(self) -> None:
        with self.lock:
            if time.monotonic() - self.checked_at < self.ttl:
                return  # another thread just did
            try:
                doc = read_stored(self.couch)
            except (CouchUnavailable, CouchError) as exc:
                log.warning("could not read %s, keeping the settings in force: %s", TUNING_ID, exc)
                self.checked_at = time.monotonic()
                return
            self.checked_at = time.monotonic()
            rev = doc["_rev"] if doc else None
            if rev == self.rev:
                return
            self.rev = rev
            try:
                self.stored = from_stored(doc["settings"] if doc else {})
            except TuningError as exc:
                self.refused = str(exc)
                log.error("refused %s at rev %s, keeping the settings in force: %s", TUNING_ID, rev, exc)
                return
            self.document, self.refused = doc, None
