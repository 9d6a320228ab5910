"""bench/worker_reads.py replays the counting worker's rules offline; it runs on generated orders, and what it
counts obeys what must hold whatever the settings."""

import json

from bench import worker_reads


def test_the_offline_replay_counts_reads_and_lists_for_every_setting(tmp_path, capsys):
    out = tmp_path / "worker_reads.json"
    assert worker_reads.main(["--base", "300", "--new", "90", "--batches", "10,90", "--keep", "6,30", "--k", "3",
                              "--out", str(out)]) == 0
    rows = {(row["batch"], row["keep"]): row for row in json.loads(out.read_text())["rows"]}
    assert set(rows) == {(10, 6), (90, 6), (10, 30), (90, 30)}
    for keep in (6, 30):  # a list is read and written once a batch: fewer, larger batches touch fewer
        assert rows[90, keep]["lists_per_order"] < rows[10, keep]["lists_per_order"]
    assert rows[10, 6]["lists_per_order"] == rows[10, 30]["lists_per_order"]  # the keep changes what is read, not which lists
    assert "| 90 | 30 |" in capsys.readouterr().out
