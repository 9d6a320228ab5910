"""`couchrec tune` on a hand-made shop whose best setting is known, and the stored settings' rules.

Every user of the shop (12 of them, items of their own) bought, by day:
  days 1-4    12 "old" items, every day          (4 purchases each, long ago)
  days 26-30  12 "mid" items, every day          (5 purchases each, 10-14 days before the last order)
  days 33, 35 R1 alone; days 34, 37 R2 alone     (2 purchases each, never together)
  day 40      R1 and R2: the last order, held out
One of R1, R2 is held out, the other is the cart. The cart's co-purchases cannot find it
(R1 and R2 were never bought together), so the cart alone misses; the history finds it only
with a 4-day half-life: 2^(-7/4) + 2^(-5/4) = 0.72 for R1 (0.95 for R2) beat a mid item's
Σ 2^(-d/4), d = 10..14, = 0.64, while at 7 days a mid item's 1.54 beats R1's 1.11 and R2's
1.30, and longer half-lives (or none) favour the items bought 4 or 5 times. So tune must
choose a half-life of 4 days and a weight above 0; every setting scores 12 of 12 or 0.
"""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from click.testing import CliRunner

from loader.logs.ingest import PendingLog, write_logs
from loader.tuning.tune import tune
from loader.tuning.tuned import (TUNING_ID, RecommendSettings, TuningError, from_environment, from_stored, read_stored,
                                 store)
from service.cli import main
from tests.eventually import eventually, on_every_copy

USERS = [f"u{n:02d}" for n in range(12)]


def shop_orders() -> list[tuple[str, int, list[str]]]:
    orders = []
    for user in USERS:
        orders += [(user, day, [f"{user}-old-{i}" for i in range(12)]) for day in range(1, 5)]
        orders += [(user, day, [f"{user}-mid-{i}" for i in range(12)]) for day in range(26, 31)]
        orders += [(user, 33, [f"{user}-R1"]), (user, 34, [f"{user}-R2"]), (user, 35, [f"{user}-R1"]),
                   (user, 37, [f"{user}-R2"]), (user, 40, [f"{user}-R1", f"{user}-R2"])]
    return orders + [("newcomer", 12, ["u00-mid-1", "u01-mid-2"])]  # a cold-start user


def logs() -> list[PendingLog]:
    found = []
    for number, (user, day, items) in enumerate(shop_orders()):
        when = (date(2026, 9, 30) + timedelta(days=day)).isoformat() + "T10:00:00.000Z"
        doc = ({"log_type": "purchase", "item_id": items[0]} if len(items) == 1 else
               {"log_type": "checkout", "items": items})
        found.append(PendingLog(f"order-{number}", {**doc, "order_id": f"o{number}", "user_id": user,
                                                    "timestamp": when}))
    return found


@pytest.fixture(scope="module")
def known_shop(module_shop):
    outcomes = write_logs(module_shop, logs())
    assert all(outcome.stored for outcome in outcomes)
    on_every_copy(module_shop, [outcome.doc_id for outcome in outcomes])

    def all_indexed():  # a cluster's first answers may lag the writes
        assert len(module_shop.query_view("history", "orders")["rows"]) == len(shop_orders())
    eventually(all_indexed)
    return module_shop


def test_tune_finds_the_half_life_the_shop_needs(known_shop, couchdb_url):
    result = tune(couchdb_url, known_shop, max_users=100)
    assert result.settings.half_life == 4.0 and result.settings.weight > 0
    report = result.report
    assert (report["returning_users"], report["cold_start_users"], report["asked_users"]) == (12, 1, 12)
    assert not report["sampled"]
    rows = {row["ranking"].split(" (")[0]: row for row in report["table"]}
    assert rows["cart with its owner, chosen"]["hit_rate"] == 1.0
    assert rows["cart with its owner, today's defaults"]["hit_rate"] == 0.0  # 30 days: the mid items win
    assert rows["cart alone, chosen"]["hit_rate"] == 0.0
    assert rows["cart with its owner, chosen on half the users, scored on the other half"]["hit_rate"] == 1.0
    low, high = rows["cart with its owner, chosen"]["hit_rate_ci"]
    assert low <= 1.0 <= high


def test_a_user_sample_caps_the_work_and_is_said(known_shop, couchdb_url):
    report = tune(couchdb_url, known_shop, max_users=5).report
    assert (report["asked_users"], report["sampled"]) == (5, True)


def test_the_command_stores_the_choice_and_a_dry_run_does_not(known_shop, couchdb_url):
    env = {"COUCHDB_URL": couchdb_url, "COUCHREC_DB": known_shop.db}
    dry = CliRunner().invoke(main, ["tune", "--dry-run", "--quiet", "--max-users", "4"], env=env)
    assert dry.exit_code == 0, dry.output
    assert "4 of 12 returning users asked (a sample: --max-users 4)" in dry.output
    assert "dry run: nothing stored" in dry.output and read_stored(known_shop) is None
    stored = CliRunner().invoke(main, ["tune", "--quiet"], env=env)
    assert stored.exit_code == 0, stored.output
    assert "| cart with its owner, chosen (confidence, min_support 1, weight 0.8, half-life 4 d) | 1.000" in stored.output
    doc = read_stored(known_shop)
    assert doc["settings"] == {**RecommendSettings().as_dict(), "half_life": 4.0}
    assert doc["report"]["chosen"] == doc["settings"] and len(doc["report"]["table"]) == 6
    json.dumps(doc)  # stored as JSON: no NaN, no infinities


@pytest.mark.parametrize("settings,message", [
    ({"half_life": 5}, "half_life must be one of 4, 7, 14, 30, 60"),
    ({"weight": 1.5}, "weight must be a number from 0 to 1, not 1.5"),
    ({"cart_min_support": 0}, "cart_min_support must be a whole number from 1"),
    ({"owner_score": "magic"}, "owner_score must be one of count, confidence"),
    ({"colour": "red"}, "unknown setting 'colour'"),
    ("fast", "settings must be an object"),
])
def test_stored_settings_out_of_range_are_refused_naming_them(settings, message):
    with pytest.raises(TuningError, match=message):
        from_stored(settings)


def test_store_refuses_what_the_service_would_refuse(couch):
    with pytest.raises(TuningError, match="half_life"):
        store(couch, RecommendSettings(half_life=5.0), {})
    assert read_stored(couch) is None


@pytest.mark.parametrize("environ,found", [
    ({"COUCHREC_HALF_LIFE": "none"}, {"half_life": None}),
    ({"COUCHREC_HALF_LIFE": "7", "COUCHREC_HISTORY_WEIGHT": "0.5"}, {"half_life": 7.0, "weight": 0.5}),
    ({"COUCHREC_CART_SCORE": "cosine", "COUCHREC_OWNER_MIN_SUPPORT": "2"},
     {"cart_score": "cosine", "owner_min_support": 2}),
])
def test_the_environment_sets_what_it_names(environ, found):
    assert from_environment(environ) == found


@pytest.mark.parametrize("environ,message", [
    ({"COUCHREC_HALF_LIFE": "5"}, "COUCHREC_HALF_LIFE: half_life must be one of"),
    ({"COUCHREC_HISTORY_WEIGHT": "lots"}, "COUCHREC_HISTORY_WEIGHT: weight must be a number"),
    ({"COUCHREC_CART_MIN_SUPPORT": "-1"}, "COUCHREC_CART_MIN_SUPPORT: cart_min_support must be a whole number"),
])
def test_a_bad_environment_variable_is_refused_naming_it(environ, message):
    with pytest.raises(TuningError, match=message):
        from_environment(environ)


def test_tune_refuses_a_shop_without_signed_in_orders(shop, couchdb_url):
    write_logs(shop, [PendingLog("g1", {"log_type": "checkout", "order_id": "g1", "items": ["a", "b"],
                                        "timestamp": "2026-10-01T10:00:00.000Z"})])
    result = CliRunner().invoke(main, ["tune", "--quiet"], env={"COUCHDB_URL": couchdb_url, "COUCHREC_DB": shop.db})
    assert result.exit_code == 1 and "a per-user split needs orders with a user_id" in result.output
