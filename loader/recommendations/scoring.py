"""Item-to-item scores from co-occurrence counts, pure functions.

For a seed item a and a candidate b: n_ab orders hold both, n_a hold a, n_b hold
b, out of N orders. count is n_ab; confidence is P(b | a) = n_ab / n_a (association
rules); jaccard, cosine and lift are the usual set measures; llr is Dunning's
log-likelihood ratio, signed by the direction of the association.
"""

from __future__ import annotations

import math
from typing import Callable


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


def llr(n_ab: int, n_a: int, n_b: int, n: int) -> float:
    """Signed: pairs bought together less often than chance would be as surprising, but no recommendation."""
    g2 = log_likelihood_ratio(n_ab, n_a - n_ab, n_b - n_ab, n - n_a - n_b + n_ab)
    return g2 if n_ab * n >= n_a * n_b else -g2


SCORERS = {  # each takes (n_ab, n_a, n_b, n)
    "count": lambda n_ab, n_a, n_b, n: float(n_ab),
    "confidence": lambda n_ab, n_a, n_b, n: n_ab / n_a,  # P(b | a), as in association rules
    "jaccard": lambda n_ab, n_a, n_b, n: n_ab / (n_a + n_b - n_ab),
    "cosine": lambda n_ab, n_a, n_b, n: n_ab / math.sqrt(n_a * n_b),
    "lift": lambda n_ab, n_a, n_b, n: n * n_ab / (n_a * n_b),
    "llr": llr,
}
SCORES = tuple(SCORERS)


def scorer(name: str) -> Callable[[int, int, int, int], float]:
    """The function scoring candidate b for seed a by `name` (one of SCORES), picked once for a whole question."""
    try:
        return SCORERS[name]
    except KeyError:
        raise ValueError(f"unknown score {name!r}; use one of {', '.join(SCORES)}") from None
