"""skmtrec: multi-task recommendation with a scikit-learn API, trained through skorch.

The public names are imported on first use (PEP 562), so that ``import skmtrec`` and
``skmtrec --help`` do not wait for torch.
"""

import importlib
from typing import TYPE_CHECKING

from . import exceptions

__version__ = "0.1.0.dev0"

# public name -> the module that defines it
_NAMES = {
    "PLE": "._config",
    "ColdStart": "._config",
    "MMoE": "._config",
    "SharedBottom": "._config",
    "load": "._persistence.save_load",
    "save": "._persistence.save_load",
    "MultiTaskRecommender": "._recommender",
    "SentenceEmbedder": "._sentence_embedder",
    "make_task_scorer": ".metrics",
}
_SUBMODULES = ("datasets", "exceptions", "inspection", "metrics", "model_selection", "nn")

if TYPE_CHECKING:  # what type checkers and IDEs see
    from ._config import PLE, ColdStart, MMoE, SharedBottom
    from ._persistence.save_load import load, save
    from ._recommender import MultiTaskRecommender
    from ._sentence_embedder import SentenceEmbedder
    from .metrics import make_task_scorer

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


def __getattr__(name: str):
    if name in _NAMES:
        value = getattr(importlib.import_module(_NAMES[name], __name__), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__, *_SUBMODULES})
