"""Pictures of a fitted model."""

from ._training_history import TrainingHistoryDisplay

__all__ = ["TrainingHistoryDisplay"]
