"""The torch network: an input part, a head (shared bottom, MMoE, PLE) and task balancing.

``MultiTaskNetwork(spec)`` rebuilds the network of a fitted ``MultiTaskRecommender`` from its
``network_spec_``; its weights load with ``load_state_dict``.
"""

from .._training.optim import RowwiseAdamW
from ._balancing import (
    BALANCING,
    DynamicWeightAverage,
    FixedWeights,
    GradNorm,
    TaskBalancing,
    UncertaintyWeighting,
)
from ._heads import HEADS, MLP, PLE, Head, MMoE, SharedBottom, Tower
from ._inputs import InputLayer, PairInput, RowPairs
from ._network import MultiTaskNetwork

__all__ = [
    "BALANCING",
    "HEADS",
    "MLP",
    "PLE",
    "DynamicWeightAverage",
    "FixedWeights",
    "GradNorm",
    "Head",
    "InputLayer",
    "MMoE",
    "MultiTaskNetwork",
    "PairInput",
    "RowPairs",
    "RowwiseAdamW",
    "SharedBottom",
    "TaskBalancing",
    "Tower",
    "UncertaintyWeighting",
]
