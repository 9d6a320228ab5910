"""Basket files and the offline evaluation, run through the real recommender and database."""

import json

import pytest
from click.testing import CliRunner

from loader.devtools.generate import generate
from loader.recommendations.scoring import SCORES
from loader.tuning.baskets import Basket, read_baskets
from loader.tuning.evaluate import (BASELINE, HALF_LIVES, THROUGH_LISTS, WEIGHTS, evaluate, grid_key, split_baskets,
                                    split_per_user)
from service.cli import main

ARFF = """% a tiny market-basket file
@relation shop
@attribute 'bread and cake' { t}
@attribute milk { t}
@attribute 'tea' { t}
@attribute 'total' { low, high}
@data
t,t,?,low
?,t,t,high
t,?,?,low
"""


def test_reads_arff_csv_and_json_lines(tmp_path):
    arff = tmp_path / "shop.arff"
    arff.write_text(ARFF)
    assert [b.items for b in read_baskets(arff)] == [("bread and cake", "milk"), ("milk", "tea"), ("bread and cake",)]

    csv_file = tmp_path / "orders.csv"
    csv_file.write_text("order_id,item_id,user_id\no1,a,u\no2,b,\no1,c,u\no1,a,u\n")
    assert read_baskets(csv_file) == [Basket("o1", ("a", "c"), None, "u"), Basket("o2", ("b",))]

    lines = tmp_path / "orders.jsonl"
    lines.write_text("\n".join(json.dumps(r) for r in [
        {"order_id": "x", "items": ["a", {"item_id": "b"}], "timestamp": "2026-10-01T00:00:00Z"},
        {"log_type": "page_view", "page_type": "home", "generation_time": 3},
        {"log_type": "purchase", "item_id": "c", "user_id": "u", "order_id": "y"},
    ]))
    assert read_baskets(lines) == [Basket("x", ("a", "b"), "2026-10-01T00:00:00Z"), Basket("y", ("c",), None, "u")]


def test_split_is_by_time_when_every_order_is_dated():
    dated = [Basket(f"o{n}", ("a",), f"2026-10-{n:02d}") for n in (5, 1, 3, 2, 4)]
    train, test, how = split_baskets(dated, test_fraction=0.4, seed=1)
    assert how == "time" and [b.order_id for b in test] == ["o4", "o5"]
    undated = [Basket(f"o{n}", ("a",)) for n in range(10)]
    train, test, how = split_baskets(undated, test_fraction=0.3, seed=1)
    assert how.startswith("random") and len(test) == 3 and set(train).isdisjoint(test)


def test_co_purchase_scores_beat_popularity_on_generated_groups(couchdb_url):
    baskets = [Basket(d["order_id"], tuple(i if isinstance(i, str) else i["item_id"] for i in d["items"]),
                      d["timestamp"]) for d in generate(seed=3, orders=400) if d["log_type"] == "checkout"]
    result = evaluate(couchdb_url, baskets, k=10, max_test=40)
    assert set(result.results) == {*SCORES, *THROUGH_LISTS, BASELINE}
    assert result.split == "time" and result.test_queries == 40
    assert result.results["llr"]["hit_rate"] > result.results[BASELINE]["hit_rate"]
    assert result.results["llr"]["coverage"] > result.results[BASELINE]["coverage"]
    assert all(row["recall"] == row["hit_rate"] for row in result.results.values())


def test_cli_prints_the_table_and_writes_json(couchdb_url, tmp_path):
    source = tmp_path / "shop.ndjson"
    source.write_text("".join(json.dumps(d) + "\n" for d in generate(seed=4, orders=120)))
    out = tmp_path / "result.json"
    result = CliRunner().invoke(main, ["evaluate", str(source), "--max-test", "10", "--json", str(out)],
                                env={"COUCHDB_URL": couchdb_url})
    assert result.exit_code == 0, result.output
    assert "| scorer | hit-rate@10 | recall@10 | MRR@10 | coverage |" in result.output
    assert json.loads(out.read_text())["test_queries"] == 10


def test_cli_refuses_a_file_that_is_not_baskets(tmp_path):
    bad = tmp_path / "x.jsonl"
    bad.write_text("not json\n")
    result = CliRunner().invoke(main, ["evaluate", str(bad)])
    assert result.exit_code == 1 and "line 1: not JSON" in result.output


def test_the_per_user_split_tests_each_returning_users_last_order():
    baskets = [Basket("a1", ("x", "y"), "2026-10-01", "a"), Basket("b1", ("x",), "2026-10-02", "b"),
               Basket("a2", ("y", "z"), "2026-10-05", "a"), Basket("g1", ("z",), "2026-10-06"),
               Basket("a3", ("x", "z"), "2026-10-03", "a")]
    train, test = split_per_user(baskets)
    assert [b.order_id for b in test] == ["a2"]  # b ordered once: nothing to learn from
    assert [b.order_id for b in train] == ["a1", "b1", "g1", "a3"]
    with pytest.raises(ValueError, match="needs orders with a user_id"):
        split_per_user([Basket("g1", ("z",), "2026-10-06")])


def test_the_per_user_evaluation_sees_the_repeat_signal_of_the_grocery_profile(couchdb_url, tmp_path):
    source = tmp_path / "grocery.ndjson"
    source.write_text("".join(json.dumps(d) + "\n" for d in generate(seed=6, orders=400, days=60, profile="grocery")))
    out = tmp_path / "per-user.json"
    result = CliRunner().invoke(main, ["evaluate", str(source), "--per-user", "--max-test", "25", "--json", str(out)],
                                env={"COUCHDB_URL": couchdb_url})
    assert result.exit_code == 0, result.output
    assert "| what ranks the 10 suggestions | hit-rate@10 | MRR@10 | coverage |" in result.output
    found = json.loads(out.read_text())
    assert found["test_queries"] == 25 and 0.4 < found["bought_before"] < 0.95
    rows = found["results"]
    history, popular = rows["history: most often bought first"]["hit_rate"], rows["popular items"]["hit_rate"]
    assert history > popular
    assert rows["cart + user, bought items not recommended"]["hit_rate"] <= 1 - found["bought_before"]
    assert len(found["grid"]) == len(WEIGHTS) * len(HALF_LIVES)
    assert found["grid"][grid_key(0.0, None)] == rows["cart: co-purchases (confidence)"]  # weight 0: the cart alone
