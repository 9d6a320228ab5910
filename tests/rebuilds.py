"""An interrupted rebuild's place (`_local/couchrec-rebuild`), read as a cluster may answer right after a write."""

from __future__ import annotations

from loader.derived.derived import REBUILD_ID


def place_at(target, done: int) -> dict:
    """The interrupted rebuild's place, once the copy read holds its last write (a cluster's `_local`
    documents are written to every copy of their shard but acknowledged at quorum)."""
    place = target.get_doc(REBUILD_ID)
    assert place is not None and place["done"] == done, place
    return place


def place_gone(target) -> None:
    """A finished rebuild deletes its place; on a cluster a copy read right after may not have the delete yet."""
    assert target.get_doc(REBUILD_ID) is None
