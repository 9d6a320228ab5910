"""The generator: reproducible, valid, and shaped like a shop."""

import json
from collections import Counter

import pytest
from click.testing import CliRunner

from loader.devtools.generate import PAGE_TIMES, TrafficGenerator, generate
from loader.logs.schema import prepare_log
from service.cli import main


def test_the_same_seed_gives_the_same_documents_and_another_seed_does_not():
    assert list(generate(seed=9, orders=50)) == list(generate(seed=9, orders=50))
    assert list(generate(seed=9, orders=50)) != list(generate(seed=10, orders=50))


def test_every_generated_document_is_a_valid_log_with_a_unique_id():
    docs = list(generate(seed=2, orders=300))
    for doc in docs:
        assert prepare_log(doc)["timestamp"] == doc["timestamp"]
    assert len({doc["_id"] for doc in docs}) == len(docs)
    kinds = Counter(doc["log_type"] for doc in docs)
    assert kinds["checkout"] + kinds["purchase"] == 300
    assert kinds["page_view"] > kinds["access"] > kinds["cart"] > 0
    assert "2026-10-01T00:00:00.000Z" < min(doc["timestamp"] for doc in docs)
    assert max(doc["timestamp"] for doc in docs) < "2026-10-30T00:00:00.000Z"


def test_baskets_follow_hidden_groups():
    """Pairs from one hidden group are bought together far above chance; other pairs are not."""
    generator = TrafficGenerator(seed=4, orders=2000, days=28)
    docs = [d for d in generator.documents() if d["log_type"] == "checkout"]
    baskets = [{line if isinstance(line, str) else line["item_id"] for line in d["items"]} for d in docs]
    pairs = Counter((a, b) for basket in baskets for a in basket for b in basket if a < b)
    singles = Counter(item for basket in baskets for item in basket)
    grouped = {(a, b) for group in generator.shop.groups for a in group for b in group if a < b}

    def lift(selected):
        """Co-purchases seen over co-purchases expected if items were bought independently."""
        seen = sum(n for pair, n in pairs.items() if pair in selected)
        expected = sum(singles[a] * singles[b] / len(baskets) for a, b in pairs if (a, b) in selected)
        return seen / expected

    assert lift(grouped) > 3
    assert lift(set(pairs) - grouped) < 1.5


def test_cli_writes_ndjson():
    result = CliRunner().invoke(main, ["generate", "--orders", "3", "--seed", "1"])
    assert result.exit_code == 0
    docs = [json.loads(line) for line in result.output.splitlines()]
    assert docs == list(generate(seed=1, orders=3))


def grocery_orders(docs: list[dict]) -> list[tuple[str, list[str]]]:
    """(user, items) of every order, in time order."""
    return [(doc["user_id"], [line if isinstance(line, str) else line["item_id"] for line in doc["items"]]
             if doc["log_type"] == "checkout" else [doc["item_id"]])
            for doc in docs if doc["log_type"] in ("checkout", "purchase")]


def test_the_grocery_profile_is_reproducible_valid_and_surrounded_by_browsing():
    docs = list(generate(seed=3, orders=200, profile="grocery"))
    assert docs == list(generate(seed=3, orders=200, profile="grocery"))
    assert docs != list(generate(seed=3, orders=200))
    for doc in docs:
        assert prepare_log(doc)["timestamp"] == doc["timestamp"]
    assert len({doc["_id"] for doc in docs}) == len(docs)
    kinds = Counter(doc["log_type"] for doc in docs)
    assert kinds["checkout"] + kinds["purchase"] == 200
    assert kinds["page_view"] > kinds["cart"] > kinds["access"] > 0
    assert {doc["page_type"] for doc in docs if doc["log_type"] == "page_view"} == set(PAGE_TIMES)


def favourites(history: list[list[str]]) -> set[str]:
    """A user's 10 most bought items."""
    return {item for item, _ in Counter(item for items in history for item in items).most_common(10)}


def test_the_grocery_profile_has_a_real_grocery_sets_shape():
    """Repeat purchases, ~10 items an order with some large carts, and a long tail of products."""
    orders = grocery_orders(list(generate(seed=5, orders=3000, days=60, profile="grocery")))
    sizes = [len(items) for _, items in orders]
    assert 8.5 < sum(sizes) / len(sizes) < 11.5
    assert max(sizes) > 50
    by_user: dict[str, list[list[str]]] = {}
    for user, items in orders:
        by_user.setdefault(user, []).append(items)
    assert 250 < len(by_user) <= 300 and sum(len(history) >= 5 for history in by_user.values()) > 150
    repeated = total = 0
    for history in by_user.values():
        if len(history) > 1:
            before = {item for items in history[:-1] for item in items}
            repeated += sum(item in before for item in history[-1])
            total += len(history[-1])
    assert 0.64 < repeated / total < 0.78  # 0.71 in the real set
    habitual = sum(item in favourites(history[:-1]) for history in by_user.values() if len(history) >= 5
                   for item in history[-1] if any(item in items for items in history[:-1]))
    again = sum(any(item in items for items in history[:-1]) for history in by_user.values() if len(history) >= 5
                for item in history[-1])
    assert 0.2 < habitual / again < 0.4  # repeats spread over the repertoire, not just the 10 favourites (0.45 before)
    popularity = [n for _, n in Counter(item for _, items in orders for item in items).most_common()]
    assert len(popularity) > 4000
    assert sum(popularity[: len(popularity) // 100]) > 0.12 * sum(popularity)  # a head ...
    assert sum(n <= 2 for n in popularity) > 0.4 * len(popularity)           # ... and a long tail


def test_an_unknown_profile_is_refused():
    with pytest.raises(ValueError, match="unknown profile 'bakery'"):
        generate(profile="bakery")
    result = CliRunner().invoke(main, ["generate", "--orders", "3", "--profile", "bakery"])
    assert result.exit_code == 2 and "bakery" in result.output


def test_cli_writes_the_grocery_profile():
    result = CliRunner().invoke(main, ["generate", "--orders", "3", "--seed", "1", "--profile", "grocery"])
    assert result.exit_code == 0
    assert [json.loads(line) for line in result.output.splitlines()] == list(generate(seed=1, orders=3, profile="grocery"))
