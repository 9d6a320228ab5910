"""Recommendations that know the shopper, on a hand-made shop, through the running service.

Orders (day of October 2026):
  o1 day 1   A B C   u1          o5 day 6   B F   u2
  o2 day 2   A D     u1          o6 day 7   C F
  o3 day 20  A E     u1          o7 day 8   A B
  o4 day 5   B C     u2          o8 day 9   G     (a purchase by u3)
u1 bought A 3 times (last on day 20), E once (day 20), D once (day 2), B and C once (day 1).
Item counts: A 4, B 4, C 3, F 2, D 1, E 1, G 1. With B: A 2, C 2, F 1.
"""

from __future__ import annotations

import pytest

from loader.couchdb.viewcache import ViewCache
from loader.logs.ingest import PendingLog, write_logs
from loader.recommendations.history import (DEFAULT_HALF_LIFE, DEFAULT_WEIGHT, HALF_LIVES, REFERENCE_DAY, Bought,
                                            habit_scores, read_history)
from loader.settings import Settings, SettingsError
from tests.eventually import eventually
from tests.servers import LiveService

ORDERS = [
    ("o1", 1, ["A", "B", "C"], "u1"), ("o2", 2, ["A", "D"], "u1"), ("o3", 20, ["A", "E"], "u1"),
    ("o4", 5, ["B", "C"], "u2"), ("o5", 6, ["B", "F"], "u2"), ("o6", 7, ["C", "F"], None),
    ("o7", 8, ["A", "B"], None), ("o8", 9, ["G"], "u3"),
]
DAY_1 = 20727  # 2026-10-01, in days since 1970-01-01


def fixture_logs() -> list[PendingLog]:
    logs = []
    for order_id, day, items, user in ORDERS:
        if len(items) == 1:
            doc = {"log_type": "purchase", "item_id": items[0], "order_id": order_id}
        else:
            doc = {"log_type": "checkout", "order_id": order_id, "items": [{"item_id": item} for item in items]}
        doc.update({"timestamp": f"2026-10-{day:02d}T18:30:00.000Z", **({"user_id": user} if user else {})})
        logs.append(PendingLog(f"order-{order_id}", doc))
    return logs


@pytest.fixture(scope="module", autouse=True)
def grocery(module_shop):
    assert all(outcome.stored for outcome in write_logs(module_shop, fixture_logs()))
    def all_indexed():  # a fresh cache each time: a cluster's first answers may lag the writes
        views = ViewCache(module_shop, max_age=0)
        rows = views.query("recommend", "orders", group=True, key="orders")["rows"]
        assert rows and rows[0]["value"] == len(ORDERS)
        assert len(read_history(views, "u1")) == 5
    eventually(all_indexed)


@pytest.fixture(scope="module")
def no_bought(couchdb_url, module_shop):
    """A shop of durable goods: nothing a user bought is recommended to them."""
    live = LiveService(couchdb_url, module_shop.db, extra_env={"COUCHREC_RECOMMEND_BOUGHT": "false"})
    yield live
    live.stop()


@pytest.fixture(scope="module")
def buy_again_shop(couchdb_url, module_shop):
    live = LiveService(couchdb_url, module_shop.db, extra_env={"COUCHREC_USER_MODE": "buy_again"})
    yield live
    live.stop()


def habit(*days_before_latest: int) -> float:
    """An item's habit score: each purchase halved every DEFAULT_HALF_LIFE days before the user's latest one."""
    return sum(0.5 ** (days / DEFAULT_HALF_LIFE) for days in days_before_latest)


def rows(answer) -> list[tuple]:
    assert answer.status_code == 200, answer.text
    return [(r["item_id"], r["source"], r["support"], r["because"], r.get("times_bought"), r.get("last_bought"))
            for r in answer.json()["results"]]


def scores(answer) -> dict[str, float | None]:
    return {r["item_id"]: r["score"] for r in answer.json()["results"]}


def test_the_history_view_gives_times_bought_and_first_and_last_day(module_shop):
    history = read_history(ViewCache(module_shop), "u1")
    assert {item: Bought(item, bought.times, bought.first_day, bought.last_day)
            for item, bought in history.items()} == {
        "A": Bought("A", 3, DAY_1, DAY_1 + 19), "B": Bought("B", 1, DAY_1, DAY_1), "C": Bought("C", 1, DAY_1, DAY_1),
        "D": Bought("D", 1, DAY_1 + 1, DAY_1 + 1), "E": Bought("E", 1, DAY_1 + 19, DAY_1 + 19),
    }
    assert history["A"].last_bought == "2026-10-20"
    assert read_history(ViewCache(module_shop), "nobody") == {}
    assert habit_scores(history, half_life=None) == {"A": 3, "B": 1, "C": 1, "D": 1, "E": 1}


def test_the_recency_view_sums_decayed_purchases_for_every_half_life_it_serves(module_shop):
    history = read_history(ViewCache(module_shop), "u1")
    days_of_a = (DAY_1, DAY_1 + 1, DAY_1 + 19)
    assert history["A"].recency == pytest.approx(
        [sum(2 ** ((day - REFERENCE_DAY) / h) for day in days_of_a) for h in HALF_LIVES], rel=1e-12)
    for half_life in HALF_LIVES:  # relative to u1's latest day, day 20: exact whatever the reference day
        assert habit_scores(history, half_life=half_life) == pytest.approx(
            {"A": 2 ** (-19 / half_life) + 2 ** (-18 / half_life) + 1, "E": 1.0, "D": 2 ** (-18 / half_life),
             "B": 2 ** (-19 / half_life), "C": 2 ** (-19 / half_life)}, rel=1e-12)
    with pytest.raises(ValueError, match="half_life must be one of 4, 7, 14, 30, 60 days or none, not 5"):
        habit_scores(history, half_life=5.0)


def test_buy_again_ranks_the_users_own_items_by_habit_then_fills_with_new_ones(service):
    answer = service.get("/recommendations/users/u1", params={"mode": "buy_again", "limit": 7})
    assert rows(answer) == [
        ("A", "history", 3, [], 3, "2026-10-20"), ("E", "history", 1, [], 1, "2026-10-20"),
        ("D", "history", 1, [], 1, "2026-10-02"), ("B", "history", 1, [], 1, "2026-10-01"),
        ("C", "history", 1, [], 1, "2026-10-01"),
        ("F", "co_purchase", 2, ["B", "C"], None, None),  # confidence 1/4 + 1/3 from u1's items
        ("G", "popular", 0, [], None, None),
    ]
    assert scores(answer) == pytest.approx({"A": habit(19, 18, 0), "E": habit(0), "D": habit(18), "B": habit(19),
                                            "C": habit(19), "F": 1 / 4 + 1 / 3, "G": None})
    body = answer.json()
    assert (body["user_id"], body["mode"], body["purchased_items"]) == ("u1", "buy_again", 5)
    assert body["seeds"] == ["A", "B", "C", "D", "E"]


def test_the_default_mode_is_new_and_recommends_nothing_bought(service):
    answer = service.get("/recommendations/users/u1")
    assert rows(answer) == [("F", "co_purchase", 2, ["B", "C"], None, None), ("G", "popular", 0, [], None, None)]
    assert answer.json()["mode"] == "new"


def test_a_cart_with_its_owner_blends_history_and_co_purchases(service):
    answer = service.get("/recommendations/cart", params={"items": "B", "user_id": "u1", "limit": 6})
    w = DEFAULT_WEIGHT
    top_habit = habit(19, 18, 0)
    expected = {  # each part scaled to its best: habit A (3), co-purchase A and C (confidence 2/4)
        "A": w * 1 + (1 - w) * 1, "C": w * habit(19) / top_habit + (1 - w) * 1, "F": (1 - w) * 0.5,
        "E": w * habit(0) / top_habit, "D": w * habit(18) / top_habit,
    }
    assert list(scores(answer))[:5] == sorted(expected, key=lambda item: (-expected[item], item))
    assert scores(answer) == pytest.approx({**expected, "G": None})
    by_item = {row[0]: row[1:] for row in rows(answer)}
    assert by_item == {
        "A": ("history", 3, ["B"], 3, "2026-10-20"),     # more history than co-purchase: history
        "C": ("history", 1, ["B"], 1, "2026-10-01"),  # 0.8 × habit 0.645 / 2.27 > 0.2 × the cart's 1
        "F": ("co_purchase", 1, ["B"], None, None),
        "E": ("history", 1, [], 1, "2026-10-20"), "D": ("history", 1, [], 1, "2026-10-02"),
        "G": ("popular", 0, [], None, None),
    }
    assert "B" not in by_item
    assert (answer.json()["user_id"], answer.json()["purchased_items"]) == ("u1", 5)
    posted = service.request("POST", "/recommendations/cart", json={"items": ["B"], "user_id": "u1"},
                             params={"limit": 6}, key=None)
    assert posted.json() == answer.json()


def test_a_cart_without_a_user_or_with_an_unknown_one_ranks_co_purchases_alone(service):
    plain = service.get("/recommendations/cart", params={"items": "B,A"})
    assert [row[:4] for row in rows(plain)] == [("C", "co_purchase", 3, ["B", "A"]), ("D", "co_purchase", 1, ["A"]),
                                                ("E", "co_purchase", 1, ["A"]), ("F", "co_purchase", 1, ["B"]),
                                                ("G", "popular", 0, [])]
    assert "user_id" not in plain.json()
    stranger = service.get("/recommendations/cart", params={"items": "B,A", "user_id": "u9"})
    assert rows(stranger) == rows(plain)
    assert stranger.json()["purchased_items"] == 0


def test_bought_items_appear_only_when_the_setting_allows_them(no_bought):
    cart = no_bought.get("/recommendations/cart", params={"items": "B", "user_id": "u1"})
    assert rows(cart) == [("F", "co_purchase", 1, ["B"], None, None), ("G", "popular", 0, [], None, None)]
    refused = no_bought.get("/recommendations/users/u1", params={"mode": "buy_again"})
    assert refused.status_code == 400 and refused.json()["field"] == "mode"
    assert "COUCHREC_RECOMMEND_BOUGHT=false" in refused.json()["message"]
    assert [row[0] for row in rows(no_bought.get("/recommendations/users/u1"))] == ["F", "G"]


def test_the_shop_chooses_the_user_endpoints_default_mode(buy_again_shop):
    answer = buy_again_shop.get("/recommendations/users/u2", params={"limit": 3})
    assert rows(answer) == [("B", "history", 2, [], 2, "2026-10-06"), ("F", "history", 1, [], 1, "2026-10-06"),
                            ("C", "history", 1, [], 1, "2026-10-05")]
    assert answer.json()["mode"] == "buy_again"
    assert [row[0] for row in rows(buy_again_shop.get("/recommendations/users/u2", params={"mode": "new"}))] == \
        ["A", "D", "E", "G"]


@pytest.mark.parametrize("request_args,field", [
    (("GET", "/recommendations/cart", {"params": {"items": "B", "user_id": "u\x011"}}), "user_id"),
    (("GET", "/recommendations/users/u1", {"params": {"mode": "sometimes"}}), "mode"),
    (("POST", "/recommendations/cart", {"json": {"items": ["B"], "user_id": ""}}), "user_id"),
    (("POST", "/recommendations/cart", {"json": {"items": ["B"], "user_id": 7}}), "user_id"),
    (("POST", "/recommendations/cart", {"json": {"items": ["B"], "user": "u1"}}), "items"),
])
def test_bad_shoppers_are_400s_naming_the_field(service, request_args, field):
    method, path, kwargs = request_args
    answer = service.request(method, path, key=None, **kwargs)
    assert answer.status_code == 400 and answer.json()["field"] == field


@pytest.mark.parametrize("environ,message", [
    ({"COUCHREC_USER_MODE": "sometimes"}, "COUCHREC_USER_MODE must be one of new, buy_again"),
    ({"COUCHREC_RECOMMEND_BOUGHT": "perhaps"}, "COUCHREC_RECOMMEND_BOUGHT must be true or false"),
    ({"COUCHREC_USER_MODE": "buy_again", "COUCHREC_RECOMMEND_BOUGHT": "false"}, "needs COUCHREC_RECOMMEND_BOUGHT=true"),
])
def test_history_settings_are_checked(environ, message):
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(environ)
    assert Settings.from_env({"COUCHREC_RECOMMEND_BOUGHT": "No"}).recommend_bought is False
