"""Choosing the recommender's settings on the shop's own orders: baskets, evaluation, tuning, tuned settings."""
