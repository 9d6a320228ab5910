"""Every database derived from the log database, by the name the worker, the rebuild commands, the status
endpoints and the metrics give it."""

from __future__ import annotations

from loader.couchdb.couch import Couch
from loader.derived.derived import Derivation, pending_changes
from loader.derived.shards import EVERY_ITEM, Shard
from loader.pages.pagesummaries import PageSummaries
from loader.recommendations.neighbours import DEFAULT_K, NeighbourLists


def derivations(couch: Couch, *, k: int = DEFAULT_K, shard: Shard = EVERY_ITEM) -> dict[str, Derivation]:
    """The derived databases a worker keeps: with `shard`, its part of the neighbour lists, and the page-time
    summaries only for the first of several workers."""
    kept: dict[str, Derivation] = {"neighbours": NeighbourLists(couch, k, shard=shard)}
    if shard.index == 0:
        kept["page-times"] = PageSummaries(couch)
    return kept


def every_lag(couch: Couch) -> dict[str, dict | None]:
    """How far behind each derived database is (loader.derived.derived.pending_changes), by name."""
    return {name: pending_changes(derivation) for name, derivation in derivations(couch).items()}
