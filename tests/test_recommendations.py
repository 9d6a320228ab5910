"""Recommendation endpoints on a hand-made shop, against the running service and database.

Orders (N = 7):           Sessions (access logs):
  o1 A B C   user u1        s1: A B C
  o2 A B     user u2        s2: A B
  o3 A D     user u1        s3: A D
  o4 B C                    s4: B
  o5 E       (a purchase by u3: an order of one)
  o6 A B E
  o7 F
Item counts: A 4, B 4, C 2, D 1, E 2, F 1. With A: B 3, C 1, D 1, E 1.
"""

import math

import pytest

from loader.couchdb.viewcache import ViewCache
from loader.logs.ingest import PendingLog, write_logs
from loader.recommendations.purchases import order_count, purchase_counts
from loader.recommendations.recommend import recommend
from tests.eventually import eventually
from tests.test_scoring import g_squared

ORDERS = [
    ("o1", ["A", "B", "C"], "u1"), ("o2", ["A", "B"], "u2"), ("o3", ["A", "D"], "u1"),
    ("o4", ["B", "C"], None), ("o5", ["E"], "u3"), ("o6", ["A", "B", "E"], None), ("o7", ["F"], None),
]
SESSIONS = {"s1": "ABC", "s2": "AB", "s3": "AD", "s4": "B"}


def fixture_logs():
    logs = []
    for day, (order_id, items, user) in enumerate(ORDERS, start=1):
        timestamp = f"2026-10-{day:02d}T12:00:00.000Z"
        if order_id == "o5":
            doc = {"log_type": "purchase", "item_id": "E", "user_id": user, "order_id": order_id}
        else:  # one basket written with id lines, the others with {item_id} lines
            lines = items if order_id == "o2" else [{"item_id": item, "quantity": 1} for item in items]
            doc = {"log_type": "checkout", "order_id": order_id, "items": lines, **({"user_id": user} if user else {})}
        logs.append(PendingLog(f"order-{order_id}", {**doc, "timestamp": timestamp}))
    for session, items in SESSIONS.items():
        for item in items:
            logs.append(PendingLog(f"view-{session}-{item}", {"log_type": "access", "item_id": item,
                                   "session_id": session, "timestamp": "2026-10-01T09:00:00.000Z"}))
    return logs


@pytest.fixture(scope="module", autouse=True)
def hand_made_shop(module_shop):
    assert all(outcome.stored for outcome in write_logs(module_shop, fixture_logs()))


def items_of(answer):
    return [(r["item_id"], r["support"], r["because"], r["source"]) for r in answer.json()["results"]]


def scores_of(answer):
    return {r["item_id"]: r["score"] for r in answer.json()["results"]}


def test_item_by_count(service):
    answer = service.get("/recommendations/items/A", params={"score": "count", "limit": 4})
    assert answer.status_code == 200
    assert items_of(answer) == [("B", 3, ["A"], "co_purchase"), ("C", 1, ["A"], "co_purchase"),
                                ("D", 1, ["A"], "co_purchase"), ("E", 1, ["A"], "co_purchase")]
    assert scores_of(answer) == {"B": 3, "C": 1, "D": 1, "E": 1}


@pytest.mark.parametrize("score,expected", [
    ("confidence", {"B": 3 / 4, "C": 1 / 4, "D": 1 / 4, "E": 1 / 4}),
    ("jaccard", {"B": 3 / 5, "D": 1 / 4, "C": 1 / 5, "E": 1 / 5}),
    ("cosine", {"B": 3 / 4, "D": 1 / 2, "C": 1 / math.sqrt(8), "E": 1 / math.sqrt(8)}),
    ("lift", {"D": 7 / 4, "B": 21 / 16, "C": 7 / 8, "E": 7 / 8}),
    ("llr", {"B": g_squared(3, 1, 1, 2), "D": g_squared(1, 3, 0, 3),
             "C": -g_squared(1, 3, 1, 2), "E": -g_squared(1, 3, 1, 2)}),
])
def test_item_scores_by_hand(service, score, expected):
    answer = service.get("/recommendations/items/A", params={"score": score, "limit": 4})
    got = scores_of(answer)
    assert list(got) == sorted(expected, key=lambda item: (-expected[item], item))
    assert got == pytest.approx(expected, rel=1e-12)


def test_cart_sums_scores_and_names_the_seeds(service):
    answer = service.get("/recommendations/cart", params={"items": "A,C", "score": "count", "limit": 3})
    assert answer.json()["seeds"] == ["A", "C"]
    assert items_of(answer) == [("B", 5, ["A", "C"], "co_purchase"), ("D", 1, ["A"], "co_purchase"),
                                ("E", 1, ["A"], "co_purchase")]
    assert scores_of(answer)["B"] == 5


def test_cart_by_post_gives_the_same_answer(service):
    by_get = service.get("/recommendations/cart", params={"items": "A,C", "score": "cosine"})
    by_post = service.request("POST", "/recommendations/cart", params={"score": "cosine"}, json={"items": ["A", "C"]})
    assert by_post.status_code == 200 and by_post.json() == by_get.json()


def test_cart_items_are_never_recommended_and_popular_items_fill_the_rest(service):
    answer = service.get("/recommendations/cart", params={"items": "A,B,C", "limit": 5, "score": "count"})
    results = items_of(answer)
    assert {item for item, *_ in results}.isdisjoint({"A", "B", "C"})
    assert results == [("E", 2, ["A", "B"], "co_purchase"), ("D", 1, ["A"], "co_purchase"),
                       ("F", 0, [], "popular")]


def test_min_support_drops_thin_pairs_and_backfills(service):
    answer = service.get("/recommendations/items/A", params={"min_support": 2, "limit": 3})
    assert items_of(answer) == [("B", 3, ["A"], "co_purchase"), ("C", 0, [], "popular"), ("E", 0, [], "popular")]


def test_unknown_item_gets_popular_items(service):
    answer = service.get("/recommendations/items/Z", params={"limit": 3})
    assert answer.status_code == 200
    assert items_of(answer) == [("A", 0, [], "popular"), ("B", 0, [], "popular"), ("C", 0, [], "popular")]
    assert all(r["score"] is None for r in answer.json()["results"])


def test_user_gets_nothing_already_bought(service):
    answer = service.get("/recommendations/users/u1", params={"limit": 3, "score": "count"})
    body = answer.json()
    assert body["purchased_items"] == 4 and body["seeds"] == ["A", "B", "C", "D"]
    assert items_of(answer) == [("E", 2, ["A", "B"], "co_purchase"), ("F", 0, [], "popular")]


def test_new_user_gets_popular_items(service):
    answer = service.get("/recommendations/users/newcomer", params={"limit": 2})
    assert answer.json()["purchased_items"] == 0
    assert items_of(answer) == [("A", 0, [], "popular"), ("B", 0, [], "popular")]


def test_popular_over_all_time_and_a_window(service):
    all_time = service.get("/products/popular", params={"limit": 6}).json()["results"]
    assert [(r["item_id"], r["count"]) for r in all_time] == [("A", 4), ("B", 4), ("C", 2), ("E", 2), ("D", 1), ("F", 1)]
    window = service.get("/products/popular", params={"days": 2}).json()["results"]
    assert [(r["item_id"], r["count"]) for r in window] == [("A", 1), ("B", 1), ("E", 1), ("F", 1)]
    views = service.get("/products/popular", params={"by": "views", "limit": 2}).json()["results"]
    assert [(r["item_id"], r["count"]) for r in views] == [("A", 3), ("B", 3)]


def test_also_viewed_counts_shared_sessions(service):
    answer = service.get("/products/A/also-viewed")
    assert [(r["item_id"], r["support"], r["source"]) for r in answer.json()["results"]] == [
        ("B", 2, "co_view"), ("C", 1, "co_view"), ("D", 1, "co_view")]


@pytest.mark.parametrize("path,params,field", [
    ("/recommendations/items/A", {"limit": "0"}, "limit"),
    ("/recommendations/items/A", {"limit": "many"}, "limit"),
    ("/recommendations/items/A", {"score": "magic"}, "score"),
    ("/recommendations/items/A", {"min_support": "-1"}, "min_support"),
    ("/recommendations/items/A", {"colour": "red"}, "colour"),
    ("/recommendations/cart", {}, "items"),
    ("/recommendations/cart", {"items": ",".join(f"i{n}" for n in range(501))}, "items"),
    ("/products/popular", {"days": "0"}, "days"),
    ("/products/popular", {"by": "likes"}, "by"),
    ("/products/A/also-viewed", {"score": "count"}, "score"),
])
def test_invalid_parameters_are_400s(service, path, params, field):
    answer = service.get(path, params=params)
    assert answer.status_code == 400
    assert answer.json()["field"] == field


def test_cart_post_without_items_is_a_400(service):
    answer = service.request("POST", "/recommendations/cart", data="[]")
    assert answer.status_code == 400 and answer.json()["field"] == "items"


def test_a_new_order_changes_the_answer(service, module_shop):
    """With update=true the cache never serves an answer older than the database."""
    before = scores_of(service.get("/recommendations/items/F", params={"score": "count"}))
    assert all(r is None for r in before.values())
    write_logs(module_shop, [PendingLog("order-o8", {"log_type": "checkout", "order_id": "o8", "items": ["F", "C"],
                                                     "timestamp": "2026-10-08T12:00:00.000Z"})])
    after = service.get("/recommendations/items/F", params={"score": "count"})
    assert items_of(after)[0] == ("C", 1, ["F"], "co_purchase")


@pytest.mark.parametrize("score, expected", [("confidence", 1.0), ("lift", 1.0)])
def test_counts_read_before_an_order_cannot_break_a_score_that_counts_it(shop, score, expected):
    """A cluster's view queries may read shard copies at different points, so `co_purchase` can count an order
    that `item_purchases` and `orders` do not yet. Reproduced here with counts read, and cached, before the order."""
    write_logs(shop, [PendingLog("order-z1", {"log_type": "checkout", "order_id": "z1", "items": ["Q"],
                                              "timestamp": "2026-10-01T12:00:00.000Z"})])
    before = ViewCache(shop)
    before.revalidate()
    purchase_counts(before.query, {"X", "Y"} if score == "lift" else {"X"})  # X and Y not bought yet
    order_count(before.query)
    write_logs(shop, [PendingLog("order-z2", {"log_type": "checkout", "order_id": "z2", "items": ["X", "Y"],
                                              "timestamp": "2026-10-02T12:00:00.000Z"})])

    def scored():
        views = ViewCache(shop)  # the counts from before; co_purchase asked afresh
        views.validator, views.entries = before.validator, before.entries.copy()
        results = recommend(views, ["X"], score=score, limit=1)
        assert [(r.item_id, r.support, r.source) for r in results] == [("Y", 1, "co_purchase")]
        return results[0].score

    assert eventually(scored) == pytest.approx(expected)  # n_a = n_b = 1, raised to the pair's count; N = 1 as read
