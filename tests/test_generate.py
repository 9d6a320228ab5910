"""The generator: reproducible, valid, and shaped like a shop."""

import json
from collections import Counter

from click.testing import CliRunner

from loader.generate import TrafficGenerator, generate
from loader.schema import prepare_log
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
