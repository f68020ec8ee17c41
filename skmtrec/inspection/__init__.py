"""Pictures of a fitted model: its training, its explanations, its ranking quality at k and
one user's recommendations, and item names for its tables."""

from ._explanation import ExplanationDisplay
from ._metrics_at_k import MetricsAtKDisplay
from ._names import name_items
from ._recommendations import RecommendationsDisplay
from ._training_history import TrainingHistoryDisplay

__all__ = [
    "ExplanationDisplay",
    "MetricsAtKDisplay",
    "RecommendationsDisplay",
    "TrainingHistoryDisplay",
    "name_items",
]
