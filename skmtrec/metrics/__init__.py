"""Metrics and scorers for multi-task recommenders."""

from ._task_scorer import TASK_METRICS, make_task_scorer

__all__ = ["TASK_METRICS", "make_task_scorer"]
