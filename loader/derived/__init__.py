"""Derived databases chained after the views: what one is, the worker that keeps one fresh, shards."""
