"""Item-to-item scores from co-occurrence counts, pure functions.

For a seed item a and a candidate b: n_ab orders hold both, n_a hold a, n_b hold
b, out of N orders. count is n_ab; confidence is P(b | a) = n_ab / n_a (association
rules); jaccard, cosine and lift are the usual set measures; llr is Dunning's
log-likelihood ratio, signed by the direction of the association.
"""

from __future__ import annotations

import math

SCORES = ("count", "confidence", "jaccard", "cosine", "lift", "llr")


def x_log_x(x: float) -> float:
    return 0.0 if x == 0 else x * math.log(x)


def entropy(*counts: float) -> float:
    """Unnormalised Shannon entropy of counts, as in Mahout's LogLikelihood."""
    return x_log_x(sum(counts)) - sum(x_log_x(c) for c in counts)


def log_likelihood_ratio(k11: float, k12: float, k21: float, k22: float) -> float:
    """Dunning's G² for a 2×2 contingency table (how surprising k11 is under independence)."""
    row = entropy(k11 + k12, k21 + k22)
    column = entropy(k11 + k21, k12 + k22)
    matrix = entropy(k11, k12, k21, k22)
    return max(0.0, 2.0 * (row + column - matrix))  # rounding can make it a hair below zero


def score(name: str, n_ab: int, n_a: int, n_b: int, n: int) -> float:
    """Score candidate b for seed a by `name` (one of SCORES)."""
    if name == "count":
        return float(n_ab)
    if name == "confidence":  # P(b | a), as in association rules
        return n_ab / n_a
    if name == "jaccard":
        return n_ab / (n_a + n_b - n_ab)
    if name == "cosine":
        return n_ab / math.sqrt(n_a * n_b)
    if name == "lift":
        return n * n_ab / (n_a * n_b)
    if name == "llr":
        # Signed: pairs bought together less often than chance would be as surprising, but no recommendation.
        g2 = log_likelihood_ratio(n_ab, n_a - n_ab, n_b - n_ab, n - n_a - n_b + n_ab)
        return g2 if n_ab * n >= n_a * n_b else -g2
    raise ValueError(f"unknown score {name!r}; use one of {', '.join(SCORES)}")
