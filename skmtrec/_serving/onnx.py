"""Export for serving: the network's scoring path as ONNX, with the encoding as plain JSON.

The graph takes integer-coded inputs (``numeric``: float32, standardized; ``categorical``,
``user``, ``item``: int64 codes) and gives one output per task in the units of ``predict`` and
``predict_proba``. Histories are pooled once at export and kept in the graph as tables, so the
graph has no sparse products; a history given at predict time is not served by it.
``<name>.json`` beside the graph says how to code a row: the vocabularies (code = position +
1, 0 for a value not seen in fit; the graph reads a code outside its table as 0) and each
numeric column's mean and scale.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..nn import MultiTaskNetwork
from .cold_items import RidgeGraph


class _ScoringGraph(nn.Module):
    """The network with each task's output decoded (``Task.export_output``); a code outside
    its table (negative, or past the values of fit) is read as 0, unseen, as ``predict``
    reads a value it does not know, rather than left to Gather (which wraps negative ones)."""

    def __init__(self, network: nn.Module, tasks: list, encoding: dict, cold_items):
        super().__init__()
        self.network = network
        self.tasks = tasks
        # each blended task's ridge, by output position
        ridges = cold_items.ridges if cold_items else {}
        self.blended = [task.name in ridges for task in tasks]
        self.ridges = nn.ModuleList(RidgeGraph(ridges[t.name]) for t in tasks if t.name in ridges)
        self.cold_weight = cold_items.weight
        sizes = [len(column["values"]) + 1 for column in encoding["categorical"]]
        self.register_buffer("categorical_sizes", torch.tensor(sizes, dtype=torch.long))
        self.n_users, self.n_items = (
            0 if encoding[role] is None else len(encoding[role]["values"]) + 1
            for role in ("user", "item")
        )

    def forward(self, numeric, categorical, user=None, item=None):
        categorical = _in_table(categorical, self.categorical_sizes)
        user = None if user is None else _in_table(user, self.n_users)
        item = None if item is None else _in_table(item, self.n_items)
        outputs = list(self.network(numeric, categorical, user=user, item=item))
        ridges = iter(self.ridges)
        for j, blended in enumerate(self.blended):
            if blended:  # an item new to fit: the network's output moved toward the ridge's
                new = (item == 0).reshape(-1, *([1] * (outputs[j].dim() - 1)))
                cold = next(ridges)(numeric, categorical, user).reshape(new.shape)
                moved = outputs[j] + self.cold_weight * (cold - outputs[j])
                outputs[j] = torch.where(new, moved, outputs[j])
        return tuple(task.export_output(out) for task, out in zip(self.tasks, outputs, strict=True))


class _TaskMembers(nn.Module):
    """Networks kept at different tasks' best epochs, as one: each task's output from its own
    (``task_member``: an index into ``networks`` per task)."""

    def __init__(self, networks: list, task_member: list[int]):
        super().__init__()
        self.networks = nn.ModuleList(networks)
        self.task_member = list(task_member)

    def forward(self, numeric, categorical, user=None, item=None):
        outputs = [net(numeric, categorical, user=user, item=item) for net in self.networks]
        return tuple(outputs[m][j] for j, m in enumerate(self.task_member))


def _in_table(codes: torch.Tensor, size) -> torch.Tensor:
    return torch.where((codes >= 0) & (codes < size), codes, 0)


def export_onnx(fitted, spec: dict, tasks: list, encoding: dict, cold_items, path) -> Path:
    """Write the scoring graph of the ``fitted`` networks (of ``spec``: a list of networks and
    each task's index into it, see ``FittedModel.members``) with the cold-item blend
    ``cold_items`` to ``path`` (.onnx) and ``encoding`` beside it (.json); ``encoding`` is the
    ``encoding_spec`` of the model."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    members, task_member = fitted
    # copies on the CPU, rebuilt from the spec, so that the fitted model is left as it is
    networks = []
    for member in members:
        with torch.random.fork_rng():
            network = MultiTaskNetwork(spec, history=member.history_arrays())
        network.load_state_dict({k: v.cpu() for k, v in member.state_dict().items()})
        networks.append(network.eval())
    network = networks[0] if len(networks) == 1 else _TaskMembers(networks, task_member)
    graph = _ScoringGraph(network, tasks, encoding, cold_items)
    example = {
        "numeric": torch.zeros((2, len(encoding["numeric"])), dtype=torch.float32),
        "categorical": torch.zeros((2, len(encoding["categorical"])), dtype=torch.long),
    }
    for role in ("user", "item"):
        if encoding[role] is not None:
            example[role] = torch.ones(2, dtype=torch.long)
    batch = torch.export.Dim("batch")
    with ExitStack() as stack:
        for member in networks:
            stack.enter_context(member.pooled_histories())
        stack.enter_context(_quiet_exporter())
        torch.onnx.export(
            graph,
            (),
            str(path),
            kwargs=example,
            input_names=list(example),
            output_names=[task.name for task in tasks],
            dynamic_shapes={name: {0: batch} for name in example},
            dynamo=True,
            external_data=False,
            verbose=False,
        )
    path.with_suffix(".json").write_text(json.dumps(encoding, indent=1), encoding="utf-8")
    return path


@contextmanager
def _quiet_exporter() -> Iterator[None]:
    """The exporter's notes on its own internals (warnings, and log lines such as
    "torchvision is not installed") kept from the user."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def encoding_spec(encoder, tasks: list) -> dict:
    """How a row becomes the graph's inputs and what its outputs are, as plain JSON."""

    def values(codes) -> list:
        return np.asarray(codes.values, dtype=object).tolist()

    def named(label) -> object:
        return label if isinstance(label, (str, int)) else str(label)

    outputs = {}
    for task in tasks:
        entry = {"kind": task.kind}
        if task.classes is not None:
            entry["classes"] = np.asarray(task.classes, dtype=object).tolist()
        outputs[task.name] = entry
    return {
        "inputs": "numeric: float32 (rows, len(numeric)), (value - mean) / scale; categorical: "
        "int64 (rows, len(categorical)); user, item: int64 (rows,). A code is the position of "
        "the value in its list plus 1; 0 for a value not seen in fit (the graph reads a code "
        "outside 0..len(values) as 0).",
        "user": None
        if encoder.user_codes is None
        else {"column": named(encoder.user_label), "values": values(encoder.user_codes)},
        "item": None
        if encoder.item_codes is None
        else {"column": named(encoder.item_label), "values": values(encoder.item_codes)},
        "categorical": [
            {"column": named(label), "values": values(codes)}
            for label, codes in zip(
                encoder.categorical_labels, encoder.categorical_codes, strict=True
            )
        ],
        "numeric": [
            {"column": named(label), "mean": float(mean), "scale": float(scale)}
            for label, mean, scale in zip(
                encoder.numeric_labels, encoder.mean, encoder.scale, strict=True
            )
        ],
        "outputs": outputs,
    }
