"""Heads: from the input vector to one output per task.

Each head writes its computation once, in ``outputs(x)``, applying every layer that reads the
input through ``apply_linear``. ``forward`` runs it on a batch of concatenated inputs;
``score_pairs`` on a ``PairInput`` (every user x item pair of a block), where those first layers
split into per-user, per-item and per-pair terms. The two paths are the same arithmetic.

- ``SharedBottom``: one MLP shared by every task, one tower per task (Caruana, 1997).
- ``MMoE``: shared experts and one softmax gate per task over them (Ma et al., KDD 2018).
- ``PLE``: task-specific and shared experts in progressive extraction levels, each task
  gating its own and the shared experts (Tang et al., RecSys 2020).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import torch
from torch import nn

from ._inputs import PairInput, apply_linear, as_tensor


class MLP(nn.Module):
    """Linear layers, each followed by ReLU and dropout; the first may read a ``PairInput``."""

    def __init__(self, n_in: int, units: Sequence[int], dropout: float):
        super().__init__()
        self.layers = nn.ModuleList()
        for n_out in units:
            self.layers.append(nn.Linear(n_in, n_out))
            n_in = n_out
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.n_out = n_in

    def forward(self, x: torch.Tensor | PairInput) -> torch.Tensor:
        if not self.layers:
            return as_tensor(x)
        for j, layer in enumerate(self.layers):
            x = self.dropout(torch.relu(apply_linear(layer, x) if j == 0 else layer(x)))
        return x

    @property
    def last_linear(self) -> nn.Linear | None:
        return self.layers[-1] if self.layers else None


class Tower(nn.Module):
    """A task's own MLP and its output layer."""

    def __init__(self, n_in: int, units: Sequence[int], n_out: int, dropout: float):
        super().__init__()
        self.body = MLP(n_in, units, dropout)
        self.out = nn.Linear(self.body.n_out, n_out)

    def forward(self, x: torch.Tensor | PairInput) -> torch.Tensor:
        out = self.out(self.body(x))
        return out.squeeze(1) if out.shape[1] == 1 else out


class Head(nn.Module):
    """Base of the heads: ``outputs(x)`` gives one tensor per task from the input ``x``.

    ``hyperparameters`` names the estimator parameters that a head takes as keyword arguments
    (after the input width and the tasks' output widths).
    """

    hyperparameters: ClassVar[tuple[str, ...]] = ()

    def outputs(self, x: torch.Tensor | PairInput) -> tuple[torch.Tensor, ...]:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return self.outputs(x)

    def score_pairs(self, pairs: PairInput) -> tuple[torch.Tensor, ...]:
        """Task outputs of every pair of a block, rows user-major (see ``PairInput``)."""
        return self.outputs(pairs)

    def shared_layers(self) -> list[nn.Linear]:
        """The last layers that every task shares, where GradNorm measures gradients."""
        raise NotImplementedError


def _towers(n_in, task_outputs, tower_units, dropout) -> nn.ModuleList:
    return nn.ModuleList(Tower(n_in, tower_units, n_out, dropout) for n_out in task_outputs)


def _gated(gate: nn.Linear, x, experts: torch.Tensor) -> torch.Tensor:
    """The softmax-gated mixture of ``experts`` (batch, n_experts, width) for input ``x``."""
    weights = torch.softmax(apply_linear(gate, x), dim=1)
    return torch.einsum("be,bew->bw", weights, experts)


class SharedBottom(Head):
    """One MLP shared by every task (``bottom_units``), then one tower per task."""

    hyperparameters = ("bottom_units", "tower_units", "dropout")

    def __init__(self, n_in, task_outputs, *, bottom_units, tower_units, dropout):
        super().__init__()
        self.bottom = MLP(n_in, bottom_units, dropout)
        self.towers = _towers(self.bottom.n_out, task_outputs, tower_units, dropout)

    def outputs(self, x):
        shared = self.bottom(x)
        return tuple(tower(shared) for tower in self.towers)

    def shared_layers(self):
        last = self.bottom.last_linear
        if last is None:
            raise ValueError("task_balancing='gradnorm' needs a shared layer: set bottom_units.")
        return [last]


class MMoE(Head):
    """Multi-gate mixture of experts: ``n_experts`` shared MLPs (``expert_units``), one
    softmax gate per task over them, then the task's tower."""

    hyperparameters = ("n_experts", "expert_units", "tower_units", "dropout")

    def __init__(self, n_in, task_outputs, *, n_experts, expert_units, tower_units, dropout):
        super().__init__()
        self.experts = nn.ModuleList(MLP(n_in, expert_units, dropout) for _ in range(n_experts))
        self.gates = nn.ModuleList(nn.Linear(n_in, n_experts) for _ in task_outputs)
        self.towers = _towers(expert_units[-1], task_outputs, tower_units, dropout)

    def outputs(self, x):
        experts = torch.stack([expert(x) for expert in self.experts], dim=1)
        return tuple(
            tower(_gated(gate, x, experts))
            for gate, tower in zip(self.gates, self.towers, strict=True)
        )

    def shared_layers(self):
        return [expert.last_linear for expert in self.experts]


class _ExtractionLevel(nn.Module):
    """One PLE level: each task's own experts and the shared experts, gated per task; the
    shared path gates every expert (it feeds the next level's shared experts)."""

    def __init__(self, n_in, n_tasks, n_task_experts, n_shared, expert_units, dropout, last):
        super().__init__()

        def experts(n):
            return nn.ModuleList(MLP(n_in, expert_units, dropout) for _ in range(n))

        self.task_experts = nn.ModuleList(experts(n_task_experts) for _ in range(n_tasks))
        self.shared_experts = experts(n_shared)
        self.task_gates = nn.ModuleList(
            nn.Linear(n_in, n_task_experts + n_shared) for _ in range(n_tasks)
        )
        n_all = n_tasks * n_task_experts + n_shared
        self.shared_gate = None if last else nn.Linear(n_in, n_all)

    def forward(self, task_inputs: list, shared_input):
        shared = [expert(shared_input) for expert in self.shared_experts]
        own = [
            [expert(x) for expert in experts]
            for experts, x in zip(self.task_experts, task_inputs, strict=True)
        ]
        task_outputs = [
            _gated(gate, x, torch.stack(mine + shared, dim=1))
            for gate, x, mine in zip(self.task_gates, task_inputs, own, strict=True)
        ]
        if self.shared_gate is None:
            return task_outputs, None
        every = torch.stack([e for mine in own for e in mine] + shared, dim=1)
        return task_outputs, _gated(self.shared_gate, shared_input, every)


class PLE(Head):
    """Progressive layered extraction: ``n_levels`` levels of ``n_task_experts`` experts per
    task and ``n_experts`` shared experts (``expert_units`` each); every task gates its own and
    the shared experts, and reads the last level through its tower."""

    hyperparameters = (
        "n_experts",
        "n_task_experts",
        "n_levels",
        "expert_units",
        "tower_units",
        "dropout",
    )

    def __init__(
        self,
        n_in,
        task_outputs,
        *,
        n_experts,
        n_task_experts,
        n_levels,
        expert_units,
        tower_units,
        dropout,
    ):
        super().__init__()
        n_tasks = len(task_outputs)
        self.levels = nn.ModuleList(
            _ExtractionLevel(
                n_in if level == 0 else expert_units[-1],
                n_tasks,
                n_task_experts,
                n_experts,
                expert_units,
                dropout,
                last=level == n_levels - 1,
            )
            for level in range(n_levels)
        )
        self.towers = _towers(expert_units[-1], task_outputs, tower_units, dropout)

    def outputs(self, x):
        task_inputs, shared = [x] * len(self.towers), x
        for level in self.levels:
            task_inputs, shared = level(task_inputs, shared)
        return tuple(tower(h) for tower, h in zip(self.towers, task_inputs, strict=True))

    def shared_layers(self):
        return [expert.last_linear for expert in self.levels[-1].shared_experts]


HEADS: dict[str, type[Head]] = {"shared_bottom": SharedBottom, "mmoe": MMoE, "ple": PLE}
