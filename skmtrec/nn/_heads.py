"""Heads: from the input vector to one output per task.

Each head writes its computation once, in ``outputs(x)``, applying every layer that reads the
input through ``apply_linear``. ``forward`` runs it on a batch of concatenated inputs, or on
``RowPairs`` (rows picking among distinct users and items: predict); ``score_pairs`` on a
``PairInput`` (every user x item pair of a block). On those two, the first layers split into
per-user, per-item and per-pair terms. The paths compute the same outputs.

- ``SharedBottom``: one MLP shared by every task, one tower per task (Caruana, 1997).
- ``MMoE``: shared experts and one softmax gate per task over them (Ma et al., KDD 2018).
- ``PLE``: task-specific and shared experts in progressive extraction levels, each task
  gating its own and the shared experts (Tang et al., RecSys 2020).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import pairwise
from typing import ClassVar

import torch
from torch import nn

from ._activation import ReLUDropout
from ._inputs import FactoredInput, PairInput, RowPairs, apply_linear, as_tensor


class MLP(nn.Module):
    """Linear layers, each followed by ReLU and dropout; the first may read a factored input
    (``PairInput``, ``RowPairs``)."""

    def __init__(self, n_in: int, units: Sequence[int], dropout: float):
        super().__init__()
        self.layers = nn.ModuleList()
        for n_out in units:
            self.layers.append(nn.Linear(n_in, n_out))
            n_in = n_out
        self.activation = ReLUDropout(dropout)
        self.n_out = n_in

    def forward(self, x: torch.Tensor | FactoredInput) -> torch.Tensor:
        if not self.layers:
            return as_tensor(x)
        for j, layer in enumerate(self.layers):
            x = self.activation(apply_linear(layer, x) if j == 0 else layer(x))
        return x

    @property
    def last_linear(self) -> nn.Linear | None:
        return self.layers[-1] if self.layers else None


class GroupLinear(nn.Module):
    """``n`` linear layers side by side, one matrix product for all: (batch, n, n_in) to
    (batch, n, n_out), layer ``i`` reading slot ``i``. Initialized as ``nn.Linear``."""

    def __init__(self, n: int, n_in: int, n_out: int):
        super().__init__()
        bound = 1.0 / math.sqrt(n_in)
        self.weight = nn.Parameter(torch.empty(n, n_in, n_out).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(n, n_out).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.einsum("bni,nio->bno", x, self.weight) + self.bias


class Experts(nn.Module):
    """``n`` expert MLPs (``units`` each, ReLU and dropout) computed together.

    By default every expert reads the same input, so their first layers are one linear layer
    (which may read a factored input); with ``own_inputs`` expert ``i`` reads slot ``i`` of a
    (batch, n, n_in) input. Later layers are ``GroupLinear``. ``forward`` returns
    (batch, n, units[-1]).
    """

    def __init__(
        self, n_in: int, n: int, units: Sequence[int], dropout: float, own_inputs: bool = False
    ):
        super().__init__()
        self.n, self.units, self.own_inputs = n, tuple(units), own_inputs
        self.first = GroupLinear(n, n_in, units[0]) if own_inputs else nn.Linear(n_in, n * units[0])
        self.layers = nn.ModuleList(GroupLinear(n, a, b) for a, b in pairwise(units))
        self.activation = ReLUDropout(dropout)

    def forward(self, x: torch.Tensor | FactoredInput) -> torch.Tensor:
        if self.own_inputs:
            h = self.first(x)
        else:
            h = apply_linear(self.first, x).reshape(-1, self.n, self.units[0])
        h = self.activation(h)
        for layer in self.layers:
            h = self.activation(layer(h))
        return h

    def last_weights(self) -> torch.Tensor:
        """The weights of the experts' last layer, where GradNorm measures gradients."""
        return self.layers[-1].weight if len(self.layers) else self.first.weight


class Tower(nn.Module):
    """A task's own MLP and its output layer."""

    def __init__(self, n_in: int, units: Sequence[int], n_out: int, dropout: float):
        super().__init__()
        self.body = MLP(n_in, units, dropout)
        self.out = nn.Linear(self.body.n_out, n_out)

    def forward(self, x: torch.Tensor | FactoredInput) -> torch.Tensor:
        out = self.out(self.body(x))
        return out.squeeze(1) if out.shape[1] == 1 else out


class Head(nn.Module):
    """Base of the heads: ``outputs(x)`` gives one tensor per task from the input ``x``.

    ``hyperparameters`` names the estimator parameters that a head takes as keyword arguments
    (after the input width and the tasks' output widths).
    """

    hyperparameters: ClassVar[tuple[str, ...]] = ()

    def outputs(
        self, x: torch.Tensor | FactoredInput, tasks: Sequence[int] | None = None
    ) -> tuple[torch.Tensor | None, ...]:
        """One output per task; with ``tasks`` (positions), those tasks' only, None for the
        others, whose own layers (gates, towers) are then not computed."""
        raise NotImplementedError

    def forward(self, x: torch.Tensor | RowPairs) -> tuple[torch.Tensor, ...]:
        return self.outputs(x)

    def score_pairs(
        self, pairs: PairInput, tasks: Sequence[int] | None = None
    ) -> tuple[torch.Tensor | None, ...]:
        """Task outputs of every pair of a block, rows user-major (see ``PairInput``); with
        ``tasks``, those tasks' only (see ``outputs``)."""
        return self.outputs(pairs, tasks)

    def shared_parameters(self) -> list[torch.Tensor]:
        """The weights of the last layers that every task shares, where GradNorm measures
        gradients."""
        raise NotImplementedError


def _towers(n_in, task_outputs, tower_units, dropout) -> nn.ModuleList:
    return nn.ModuleList(Tower(n_in, tower_units, n_out, dropout) for n_out in task_outputs)


def _chosen(n_tasks: int, tasks: Sequence[int] | None) -> list[int]:
    return list(range(n_tasks)) if tasks is None else sorted(set(tasks))


def _in_place(n_tasks: int, outputs: dict) -> tuple[torch.Tensor | None, ...]:
    """{task position: output} as a tuple over every task, None where not computed."""
    return tuple(outputs.get(t) for t in range(n_tasks))


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

    def outputs(self, x, tasks=None):
        shared = self.bottom(x)
        chosen = _chosen(len(self.towers), tasks)
        return _in_place(len(self.towers), {t: self.towers[t](shared) for t in chosen})

    def shared_parameters(self):
        last = self.bottom.last_linear
        if last is None:
            raise ValueError("task_balancing='gradnorm' needs a shared layer: set bottom_units.")
        return [last.weight]


class MMoE(Head):
    """Multi-gate mixture of experts: ``n_experts`` shared MLPs (``expert_units``), one
    softmax gate per task over them, then the task's tower."""

    hyperparameters = ("n_experts", "expert_units", "tower_units", "dropout")

    def __init__(self, n_in, task_outputs, *, n_experts, expert_units, tower_units, dropout):
        super().__init__()
        self.experts = Experts(n_in, n_experts, expert_units, dropout)
        # every task's gate, as one linear layer: (batch, n_tasks * n_experts)
        self.gates = nn.Linear(n_in, len(task_outputs) * n_experts)
        self.towers = _towers(expert_units[-1], task_outputs, tower_units, dropout)

    def outputs(self, x, tasks=None):
        experts = self.experts(x)
        gates = apply_linear(self.gates, x).reshape(experts.shape[0], len(self.towers), -1)
        chosen = _chosen(len(self.towers), tasks)
        if len(chosen) == len(self.towers) and isinstance(x, torch.Tensor):
            # training and validation: one einsum over every task, the arithmetic fits have
            # always used, so that a seed's fit stays the same
            mixed = torch.einsum("bte,bew->btw", torch.softmax(gates, dim=2), experts)
            return tuple(tower(mixed[:, t]) for t, tower in enumerate(self.towers))
        outputs = {}
        for t in chosen:
            # serving (predict, recommend): a product per expert, faster on the CPU than
            # einsum's batch of one-row products
            weights = (gates[:, t] - gates[:, t].amax(1, keepdim=True)).exp()
            weights /= weights.sum(1, keepdim=True)  # softmax by hand: cheaper over a few gates
            mixed = weights[:, :1] * experts[:, 0]
            for e in range(1, experts.shape[1]):
                mixed.addcmul_(weights[:, e : e + 1], experts[:, e])
            outputs[t] = self.towers[t](mixed)
        return _in_place(len(self.towers), outputs)

    def shared_parameters(self):
        return [self.experts.last_weights()]


class _ExtractionLevel(nn.Module):
    """One PLE level: each task's own experts and the shared experts, gated per task; the
    shared path gates every expert (it feeds the next level's shared experts).

    The first level reads one input (a tensor or a factored input), so every task's experts are
    one bank and every gate one linear layer. A later level reads (batch, n_tasks + 1, width),
    a slot per task and the shared slot last, and runs the tasks' experts and gates as grouped
    layers. Either way a level is a handful of matrix products, however many tasks there are.
    The output has the same layout: (batch, n_tasks + 1, width), or (batch, n_tasks, width)
    after the last level, which has no shared gate.
    """

    def __init__(
        self, n_in, n_tasks, n_task_experts, n_shared, expert_units, dropout, *, is_first, is_last
    ):
        super().__init__()
        self.n_tasks, self.n_own, self.n_shared = n_tasks, n_task_experts, n_shared
        n_mixed = n_task_experts + n_shared  # what each task's gate weighs
        n_all = n_tasks * n_task_experts + n_shared  # what the shared gate weighs
        self.task_experts = Experts(
            n_in, n_tasks * n_task_experts, expert_units, dropout, own_inputs=not is_first
        )
        self.shared_experts = Experts(n_in, n_shared, expert_units, dropout)
        self.task_gates = (
            nn.Linear(n_in, n_tasks * n_mixed) if is_first else GroupLinear(n_tasks, n_in, n_mixed)
        )
        self.shared_gate = None if is_last else nn.Linear(n_in, n_all)

    def forward(self, x):
        if not self.task_experts.own_inputs:  # the first level: one input for all
            task_in = shared_in = x
            own = self.task_experts(x)
            gates = apply_linear(self.task_gates, x)
        else:
            task_in, shared_in = x[:, : self.n_tasks], x[:, self.n_tasks]
            own = self.task_experts(task_in.repeat_interleave(self.n_own, dim=1))
            gates = self.task_gates(task_in)
        shared = self.shared_experts(shared_in)
        batch, _, width = shared.shape
        own = own.reshape(batch, self.n_tasks, self.n_own, width)
        gates = torch.softmax(gates.reshape(batch, self.n_tasks, -1), dim=2)
        out = torch.einsum("bto,btow->btw", gates[..., : self.n_own], own) + torch.einsum(
            "bts,bsw->btw", gates[..., self.n_own :], shared
        )
        if self.shared_gate is None:  # the last level
            return out
        every = torch.cat([own.reshape(batch, -1, width), shared], dim=1)
        shared_out = _gated(self.shared_gate, shared_in, every)
        return torch.cat([out, shared_out.unsqueeze(1)], dim=1)


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
                is_first=level == 0,
                is_last=level == n_levels - 1,
            )
            for level in range(n_levels)
        )
        self.towers = _towers(expert_units[-1], task_outputs, tower_units, dropout)

    def outputs(self, x, tasks=None):
        for level in self.levels:
            x = level(x)
        chosen = _chosen(len(self.towers), tasks)
        return _in_place(len(self.towers), {t: self.towers[t](x[:, t]) for t in chosen})

    def shared_parameters(self):
        return [self.levels[-1].shared_experts.last_weights()]


HEADS: dict[str, type[Head]] = {"shared_bottom": SharedBottom, "mmoe": MMoE, "ple": PLE}
