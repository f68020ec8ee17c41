"""Feature sides: which feature columns describe the item, which the user, which the pair.

Item-side features (genres, text embeddings) are folded into the item's vector and user-side
features (age, occupation) into the user's, so a new item or user gets a vector from its
content and the user-item product personalizes it. The other features describe the
interaction and go to the shared bottom as they are.
"""

from __future__ import annotations

import numpy as np

AUTO = "auto"


# Standardized numeric features that differ by less than this within a group count as one value.
# Float32 arithmetic upstream (a PCA of text embeddings in a ColumnTransformer) gives identical
# inputs results that differ in the last bits from row to row; exact comparison would then take
# an item's own features for interaction features.
CONSTANT_TOLERANCE = 1e-4


def constant_within(
    groups: np.ndarray, values: np.ndarray, chunk: int = 64, atol: float = 0.0
) -> np.ndarray:
    """For each column of ``values``, whether it has one value (up to ``atol``) in every group."""
    if values.shape[1] == 0:
        return np.zeros(0, dtype=bool)
    order = np.argsort(groups, kind="stable")
    same_group = groups[order][1:] == groups[order][:-1]
    constant = np.empty(values.shape[1], dtype=bool)
    for start in range(0, values.shape[1], chunk):
        block = values[order, start : start + chunk]
        step = block[1:] - block[:-1]
        changed = (np.abs(step, out=step) > atol) & same_group[:, None]
        constant[start : start + chunk] = ~changed.any(axis=0)
    return constant


def _side(declared, labels, constant, taken, role, id_label):
    """The feature labels of one side: declared ones (checked) or, with "auto", the constant."""
    if declared is None or id_label is None:
        return []
    if isinstance(declared, str) and declared == AUTO:
        return [c for c in labels if constant[c] and c not in taken]
    declared = list(declared)
    unknown = [c for c in declared if c not in constant]
    if unknown:
        raise ValueError(
            f"`{role}_features` names {unknown}, which are not feature columns of X; feature "
            f"columns are {labels[:20]}."
        )
    both = [c for c in declared if c in taken]
    if both:
        raise ValueError(f"{both} are declared both item and user features.")
    varying = [c for c in declared if not constant[c]]
    if varying:
        raise ValueError(
            f"`{role}_features` declares {varying}, but they vary within one {role} "
            f"(column {id_label!r}); a {role} feature must have one value per {role}."
        )
    return declared


def assign_sides(encoder, inputs: dict[str, np.ndarray], item_features, user_features):
    """Column indices of the user-side and item-side features in the encoded inputs:
    ``{"user": {"numeric": [...], "categorical": [...]}, "item": {...}}``."""
    labels = encoder.numeric_labels + encoder.categorical_labels
    # float32 holds category codes exactly (below 2**24), and a tolerance below 1 keeps them apart
    matrix = np.hstack([inputs["numeric"], inputs["categorical"].astype(np.float32)])

    def constant(id_key):
        if id_key not in inputs:
            return dict.fromkeys(labels, False)
        flags = constant_within(inputs[id_key], matrix, atol=CONSTANT_TOLERANCE)
        return dict(zip(labels, flags, strict=True))

    items = _side(item_features, labels, constant("item"), set(), "item", encoder.item_label)
    users = _side(user_features, labels, constant("user"), set(items), "user", encoder.user_label)

    def indices(side, group):
        return [i for i, c in enumerate(group) if c in side]

    return {
        role: {
            "numeric": indices(side, encoder.numeric_labels),
            "categorical": indices(side, encoder.categorical_labels),
        }
        for role, side in (("user", users), ("item", items))
    }
