"""The growth run's bookkeeping (bench/growth.py): a step stopped part way keeps its seconds and how far
its build got, the next attempt adds to them, and the table says where an unfinished build stopped."""

import pytest

from bench import growth
from bench.growth import Run, markdown, step


def test_a_stopped_step_keeps_its_seconds_and_progress_and_the_next_attempt_adds_to_them(tmp_path, monkeypatch):
    clock = [1_000.0]
    monkeypatch.setattr(growth.time, "monotonic", lambda: clock[0])
    run = Run(tmp_path, "smoke")
    with pytest.raises(KeyboardInterrupt):
        with step(run, 1_000, "build:recommend", set()) as figures:
            assert figures == {}
            growth.running["progress"] = {"changes_done": 410, "total_changes": 1_000}
            clock[0] += 120  # two minutes spent
            raise KeyboardInterrupt
    stopped = run.load()["sizes"]["1000"]["build:recommend"]
    assert stopped["changes_done"] == 410 and stopped["total_changes"] == 1_000 and stopped["spent_s"] == 120
    assert "done" not in stopped
    table = "\n".join(markdown({**run.load(), "size": "smoke"}))
    assert "| … (41 % mapped in 120 s) |" in table

    with step(run, 1_000, "build:recommend", set()) as figures:
        figures["rows"] = {"co_purchase": 9}
        clock[0] += 30
    finished = run.load()["sizes"]["1000"]["build:recommend"]
    assert finished["done"] and finished["resumed"] and finished["seconds"] == 150
    assert finished["rows"] == {"co_purchase": 9} and "changes_done" not in finished


def test_a_finished_step_is_not_run_again_unless_redone_and_then_once(tmp_path):
    run = Run(tmp_path, "smoke")
    with step(run, 200, "load", set()) as figures:
        figures["docs"] = 5
    with step(run, 200, "load", set()) as figures:
        assert figures is None
    again = Run(tmp_path, "smoke")  # a later invocation, asked to redo it
    with step(again, 200, "load", {"load"}) as figures:
        assert figures == {}
    with step(again, 200, "load", {"load"}) as figures:  # once: --recommend-first passes over the steps twice
        assert figures is None
