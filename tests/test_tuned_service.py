"""The service takes the settings `couchrec tune` stored, lets the environment override them, and refuses bad ones.

The shop is tests/test_history.py's: with B in the cart, u1's history (A bought 3 times, E, D, B, C once)
blends with B's co-purchases (A and C 2/4, F 1/4). Weight 0 ranks the co-purchases alone.
"""

from __future__ import annotations

import pytest

from loader.logs.ingest import write_logs
from loader.tuning.tuned import TUNING_ID, RecommendSettings, read_stored, store
from tests.eventually import eventually
from tests.servers import LiveService
from tests.test_history import fixture_logs

FAST = {"COUCHREC_TUNING_SECONDS": "0.2"}
CART = {"items": "B", "user_id": "u1", "limit": 4}


@pytest.fixture(scope="module")
def tuned_shop(module_shop):
    assert all(outcome.stored for outcome in write_logs(module_shop, fixture_logs()))
    return module_shop


@pytest.fixture(scope="module")
def live(couchdb_url, tuned_shop):
    service = LiveService(couchdb_url, tuned_shop.db, extra_env=FAST, workers=2)
    yield service
    service.stop()


@pytest.fixture(scope="module")
def overridden(couchdb_url, tuned_shop):
    service = LiveService(couchdb_url, tuned_shop.db, workers=1,
                          extra_env={**FAST, "COUCHREC_HISTORY_WEIGHT": "0.8", "COUCHREC_CART_SCORE": "count"})
    yield service
    service.stop()


def sources(answer) -> list[tuple[str, str]]:
    assert answer.status_code == 200, answer.text
    return [(r["item_id"], r["source"]) for r in answer.json()["results"]]


ASKED = 20  # requests per check: the two gunicorn workers each take a connection at random, so 6 missed one
# of them about once in 32 checks (a stale process then kept the setting of the test before)


def every_process_sees(service, check, tries: int = ASKED):
    """`check` holds on every answer: several requests, so both gunicorn workers are asked."""
    def all_answers():
        for _ in range(tries):
            check()
    eventually(all_answers)


def answers(service, path: str, expected, params: dict | None = None, pick=sources):
    """Every process of `service` answers `expected` (after a few moments: each re-reads the tuning on its own)."""
    def check():
        for _ in range(ASKED):  # several requests, so every gunicorn worker is asked
            assert pick(service.get(path, params=params)) == expected
    eventually(check)


def score_of(answer) -> str:
    return answer.json()["score"]


def tuning_of(answer) -> tuple:
    body = answer.json()
    return body["settings"]["weight"], body["settings"]["half_life"], body["refused"] is not None


def test_stored_settings_change_the_answers_and_the_environment_overrides_them(live, overridden, tuned_shop):
    blended = [("A", "history"), ("C", "history"), ("E", "history"), ("D", "history")]
    assert sources(live.get("/recommendations/cart", params=CART)) == blended
    assert live.get("/recommendations/tuning").json()["sources"]["weight"] == "default"

    store(tuned_shop, RecommendSettings(weight=0.0, cart_score="jaccard", half_life=4.0), {"table": []})
    answers(live, "/recommendations/cart", [("A", "co_purchase"), ("C", "co_purchase"), ("F", "co_purchase"),
                                            ("D", "popular")], CART)
    answers(live, "/recommendations/items/B", "jaccard", pick=score_of)
    tuning = live.get("/recommendations/tuning").json()
    assert tuning["settings"] == {**RecommendSettings().as_dict(), "weight": 0.0, "cart_score": "jaccard",
                                  "half_life": 4.0}
    assert tuning["sources"]["weight"] == "stored" and tuning["sources"]["owner_score"] == "stored"
    assert tuning["report"] == {"table": []} and tuning["refused"] is None

    # the environment wins over the stored weight and cart score; the stored half-life still counts: after
    # 4-day halvings C, bought 19 days before u1's latest order, is the cart's (0.2) more than u1's (0.03)
    answers(overridden, "/recommendations/cart", [("A", "history"), ("E", "history"), ("C", "co_purchase"),
                                                  ("F", "co_purchase")], CART)
    answers(overridden, "/recommendations/items/B", "count", pick=score_of)
    tuning = overridden.get("/recommendations/tuning").json()
    assert (tuning["settings"]["weight"], tuning["settings"]["half_life"]) == (0.8, 4.0)
    assert (tuning["sources"]["weight"], tuning["sources"]["cart_score"], tuning["sources"]["half_life"]) == (
        "environment", "environment", "stored")


def test_a_stored_setting_out_of_range_is_refused_and_the_previous_ones_stay(live, tuned_shop):
    store(tuned_shop, RecommendSettings(weight=0.0), {"table": []})
    answers(live, "/recommendations/tuning", (0.0, 30.0, False), pick=tuning_of)
    before = live.get("/recommendations/cart", params=CART).json()
    doc = read_stored(tuned_shop)
    tuned_shop.put_doc(TUNING_ID, {**doc, "settings": {**doc["settings"], "half_life": 5, "weight": 0.5}})
    answers(live, "/recommendations/tuning", (0.0, 30.0, True), pick=tuning_of)
    assert "stored tuning (_local/couchrec-tuning): half_life must be one of 4, 7, 14, 30, 60" in \
        live.get("/recommendations/tuning").json()["refused"]
    assert live.get("/recommendations/cart", params=CART).json() == before
