"""The build-progress line that long index builds print (loader/couchdb/indexing.py)."""

from loader.couchdb.indexing import pace

STARTED = 1_700_000_000


def task(done: int, total: int, seconds: int) -> dict:
    return {"changes_done": done, "total_changes": total, "started_on": STARTED, "updated_on": STARTED + seconds}


def test_a_build_under_way_has_a_rate_and_the_time_left_at_it():
    assert pace([task(1_000, 4_000, 10)], 1_000, 4_000) == ", 100 changes/s, about 30 s left"
    assert pace([task(1_000, 100_000, 10)], 1_000, 100_000) == ", 100 changes/s, about 16 min left"


def test_every_change_mapped_is_still_writing_not_done():
    assert pace([task(134_063, 134_062, 300)], 134_063, 134_062) == ", every change mapped, its rows still being written"


def test_no_rate_before_a_task_has_reported_an_update():
    assert pace([task(0, 5_000, 0)], 0, 5_000) == ""
