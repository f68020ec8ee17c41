"""skmtrec: multi-task recommendation with a scikit-learn API, trained through skorch."""

from . import exceptions
from ._config import PLE, ColdStart, MMoE, SharedBottom
from ._persistence.save_load import load, save
from ._recommender import MultiTaskRecommender
from ._sentence_embedder import SentenceEmbedder
from .metrics import make_task_scorer

__version__ = "0.1.0.dev0"

__all__ = [
    "PLE",
    "ColdStart",
    "MMoE",
    "MultiTaskRecommender",
    "SentenceEmbedder",
    "SharedBottom",
    "__version__",
    "exceptions",
    "load",
    "make_task_scorer",
    "save",
]
