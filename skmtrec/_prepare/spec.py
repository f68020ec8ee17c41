"""The network spec: a JSON-serializable description of the fitted network.

``MultiTaskNetwork(spec)`` builds the module from it, so a fitted network can be rebuilt from
the spec and its state dict, without pickle. It names the tasks and their output widths, the
input part's sizes and side columns, the head and its sizes, and the task balancing.
"""

from __future__ import annotations

import numbers

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
