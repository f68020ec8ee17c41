"""The multi-task network, built from a JSON-serializable spec: input part, head, balancing."""

from __future__ import annotations

import torch
from torch import nn

from ._balancing import BALANCING
from ._heads import HEADS
from ._inputs import InputLayer


class MultiTaskNetwork(nn.Module):
    """An input part and a head with one output per task, as the spec describes them.

    Parameters
    ----------
    spec : dict
        ``{"tasks": [{"name", "kind", "n_outputs"}, ...], "inputs": {...InputLayer
        arguments}, "head": {"architecture": name, ...head arguments}, "balancing":
        {"method": name, "task_weights": [...]}}``, as in ``MultiTaskRecommender.network_spec_``.
        Everything the module's shape depends on is in it, so the same network can be rebuilt
        from the spec and a state dict, without pickle.
    item_counts : array-like or None
        Interactions per item code in fit, for ``item_feature_shrinkage``; not part of the spec
        because it is state (the buffer ``inputs.item_feature_weight``), not shape.
    history : dict or None
        The users' histories as CSR arrays, when the spec's ``inputs.history_values`` asks for
        them; state, like ``item_counts``, and replaced by ``set_history``.

    ``forward`` returns a tuple with one tensor per task: shape (batch,) for a one-output task
    (a scaled value or a logit), (batch, n_outputs) logits otherwise.
    """

    def __init__(self, spec: dict, item_counts=None, history=None):
        super().__init__()
        task_outputs = tuple(task["n_outputs"] for task in spec["tasks"])
        self.inputs = InputLayer(**spec["inputs"], item_counts=item_counts, history=history)
        head = dict(spec["head"])
        architecture = head.pop("architecture")
        self.head = HEADS[architecture](self.inputs.n_out, task_outputs, **head)
        self.inputs.reset_embeddings()
        balancing = dict(spec["balancing"])
        self.balancing = BALANCING[balancing.pop("method")](**balancing)

    def forward(self, numeric, categorical, user=None, item=None) -> tuple[torch.Tensor, ...]:
        return self.head(self.inputs(numeric, categorical, user, item))

    def set_history(self, arrays: dict) -> None:
        """Replace the users' histories (CSR arrays of ``Histories.arrays()``)."""
        self.inputs.history.set_arrays(arrays)

    def side_vector(self, role: str, codes, numeric, categorical) -> torch.Tensor:
        """The user's or item's vector for encoded rows."""
        return self.inputs.side_vector(role, codes, numeric, categorical)

    def score_pairs(self, users, items, shared) -> tuple[torch.Tensor, ...]:
        """Task outputs of every (user vector, item vector) pair with the interaction features
        ``shared`` (one row), user-major: pair (u, i) is row ``u * len(items) + i``."""
        return self.head.score_pairs(self.inputs.pairs(users, items, shared))
