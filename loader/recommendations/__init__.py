"""Co-purchase recommendations: scores, pairs, neighbour lists, best sellers, a shopper's history."""
