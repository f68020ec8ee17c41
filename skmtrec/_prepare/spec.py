"""The network spec: a JSON-serializable description of the fitted network.

``MultiTaskNetwork(spec)`` builds the module from it, so a fitted network can be rebuilt from
the spec and its state dict, without pickle. It names the tasks and their output widths, the
input part's sizes and side columns, the head and its sizes, and the task balancing.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping

import numpy as np

from .projection import content_projections

SPEC_VERSION = 2  # 2: the expert banks and PLE levels of eea1eb2 (new state-dict names)


def _label(label):
    """A column label as JSON holds it: ints and strings as they are, anything else as text."""
    if isinstance(label, bool) or not isinstance(label, (str, numbers.Integral)):
        return str(label)
    return label if isinstance(label, str) else int(label)


def network_spec(tasks, encoder, sides, inputs: dict, head: dict, balancing: dict) -> dict:
    """The spec of the network for fitted ``tasks`` and ``encoder`` with feature ``sides``."""
    numeric, categorical = encoder.numeric_labels, encoder.categorical_labels

    def names(role):
        columns = sides[role]
        chosen = [numeric[j] for j in columns["numeric"]]
        chosen += [categorical[j] for j in columns["categorical"]]
        return [_label(c) for c in chosen]

    return {
        "version": SPEC_VERSION,
        "tasks": [task.spec() for task in tasks],
        "inputs": {
            "n_users": encoder.n_users,
            "n_items": encoder.n_items,
            "cardinalities": list(encoder.cardinalities),
            "n_numeric": len(numeric),
            "sides": sides,
            **inputs,
        },
        "head": head,
        "balancing": balancing,
        "features": {
            "user_id": None if encoder.user_label is None else _label(encoder.user_label),
            "item_id": None if encoder.item_label is None else _label(encoder.item_label),
            "numeric": [_label(c) for c in numeric],
            "categorical": [_label(c) for c in categorical],
            "user": names("user"),
            "item": names("item"),
        },
    }


def input_params(params: Mapping, histories: dict) -> dict:
    """The spec's input-part settings from the estimator's ``params`` and the ``histories``
    kept."""
    values = {h.n_values for h in histories.values()}
    return {
        "embedding_dim": params["embedding_dim"],
        "id_dropout": {"user": params["id_dropout"], "item": params["id_dropout"]},
        "content_components": params["content_components"],
        "history_values": values.pop() if values else None,
        "history_sides": list(histories),
        "history_sample": params["history_sample"],
    }


def module_state(params: Mapping, spec: dict, catalog, inputs: dict) -> dict:
    """The network's arguments that are data of fit rather than shape: the catalog a
    softmax trains against (with its per-item counts), content projections (see
    MultiTaskNetwork)."""
    item_table = None
    # without ids there is no catalog: build_net then says the implicit task needs them
    if catalog is not None and any(t.get("scorer") == "dot" for t in spec["tasks"]):
        item_table = {
            "numeric": catalog.item_numeric,
            "categorical": catalog.item_categorical,
            "counts": np.bincount(inputs["item"], minlength=spec["inputs"]["n_items"] + 1),
        }
    return {
        "item_table": item_table,
        "content_projections": content_projections(
            inputs, spec["inputs"]["sides"], params["content_components"]
        ),
    }
