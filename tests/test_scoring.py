"""Scores against values computed by hand."""

import math

import pytest

from loader.recommendations.scoring import SCORES, log_likelihood_ratio, scorer


def g_squared(k11, k12, k21, k22):
    """G² = 2 Σ observed · ln(observed / expected): a second, independent way to the same number."""
    total = k11 + k12 + k21 + k22
    rows, cols = (k11 + k12, k21 + k22), (k11 + k21, k12 + k22)
    cells = ((k11, 0, 0), (k12, 0, 1), (k21, 1, 0), (k22, 1, 1))
    return 2 * sum(o * math.log(o / (rows[r] * cols[c] / total)) for o, r, c in cells if o)


def test_llr_of_a_perfect_two_by_two_is_four_ln_two():
    assert log_likelihood_ratio(1, 0, 0, 1) == pytest.approx(4 * math.log(2), abs=1e-12)
    assert log_likelihood_ratio(10, 0, 0, 10) == pytest.approx(40 * math.log(2), abs=1e-12)


@pytest.mark.parametrize("table", [(5, 1995, 0, 100000), (1000, 1995, 1000, 100000), (3, 1, 1, 2), (0, 4, 3, 7)])
def test_llr_agrees_with_g_squared(table):
    assert log_likelihood_ratio(*table) == pytest.approx(g_squared(*table), rel=1e-9)


def test_llr_of_independent_items_is_zero():
    assert log_likelihood_ratio(10, 10, 10, 10) == pytest.approx(0, abs=1e-9)


# Seed a with n_a = 4 of N = 7 orders; candidate b with n_b = 4, bought together in n_ab = 3.
@pytest.mark.parametrize("name,expected", [
    ("count", 3.0),
    ("confidence", 3 / 4),
    ("jaccard", 3 / 5),
    ("cosine", 3 / 4),
    ("lift", 7 * 3 / 16),
    ("llr", g_squared(3, 1, 1, 2)),
])
def test_each_score_by_hand(name, expected):
    assert scorer(name)(3, 4, 4, 7) == pytest.approx(expected, rel=1e-12)


def test_llr_is_negative_for_pairs_bought_together_less_than_chance():
    # 1 co-purchase where independence expects 4 * 4 / 7 = 2.3.
    assert scorer("llr")(1, 4, 4, 7) == pytest.approx(-g_squared(1, 3, 3, 0), rel=1e-9)


def test_unknown_score_is_refused():
    with pytest.raises(ValueError, match="use one of count, confidence, jaccard, cosine, lift, llr"):
        scorer("magic")
    assert SCORES == ("count", "confidence", "jaccard", "cosine", "lift", "llr")
