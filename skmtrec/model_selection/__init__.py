"""Splitters for recommendation data: per-user holdout and item cold start."""

from ._splitters import ColdItemSplit, UserHoldout

__all__ = ["ColdItemSplit", "UserHoldout"]
