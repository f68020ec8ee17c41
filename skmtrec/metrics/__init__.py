"""Metrics and scorers for multi-task recommenders."""

from ._ranking import hit_rate_at_k, map_at_k, ndcg_at_k, precision_at_k, recall_at_k
from ._ranking_scorer import RANKING_METRICS, make_ranking_scorer
from ._task_scorer import TASK_METRICS, make_task_scorer

__all__ = [
    "RANKING_METRICS",
    "TASK_METRICS",
    "hit_rate_at_k",
    "make_ranking_scorer",
    "make_task_scorer",
    "map_at_k",
    "ndcg_at_k",
    "precision_at_k",
    "recall_at_k",
]
