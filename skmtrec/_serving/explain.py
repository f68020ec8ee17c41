"""Explanations: how much each input group moves a prediction, and which history item backs a
recommendation. Both are ablations: the prediction minus the prediction with one part taken
away (set to what a model sees for an unknown user, item or value)."""

from __future__ import annotations

import re

import numpy as np
import torch

from .ranking import neutral_shared, pair_scores

_BLOCK_COLUMN = re.compile(r"^(?P<name>.+)_(?P<k>\d+)$")


def feature_groups(numeric: list, categorical: list) -> dict[str, tuple[list[int], list[int]]]:
    """{group name: (numeric positions, categorical positions)}: one group per feature column,
    except that numeric columns named ``<name>_<k>`` sharing a ``<name>`` (as SentenceEmbedder
    names a text's embedding) form the one group ``<name>``."""
    blocks: dict[str, list[int]] = {}
    for j, label in enumerate(numeric):
        match = _BLOCK_COLUMN.match(str(label))
        if match:
            blocks.setdefault(match["name"], []).append(j)
    groups: dict[str, tuple[list[int], list[int]]] = {}
    for j, label in enumerate(numeric):
        match = _BLOCK_COLUMN.match(str(label))
        if match and len(blocks[match["name"]]) > 1:
            groups.setdefault(match["name"], (blocks[match["name"]], []))
        else:
            groups[str(label)] = ([j], [])
    for j, label in enumerate(categorical):
        groups[str(label)] = ([], [j])
    return groups


def ablated_inputs(
    inputs: dict[str, np.ndarray],
    id_names: dict[str, str],
    history_sides: list[str],
    groups: dict[str, tuple[list[int], list[int]]],
) -> dict[str, dict[str, np.ndarray]]:
    """{group: the encoded ``inputs`` without it}: an id at the unseen code 0 (its history
    kept), a history empty, a numeric feature at its fit mean (0 once standardized), a
    categorical one at the unknown code 0."""
    out = {}
    for role, name in id_names.items():
        if role not in inputs:
            continue
        codes = inputs[role]
        owners = inputs.get(f"history_{role}", codes)
        out[name] = {**inputs, role: np.zeros_like(codes), f"history_{role}": owners}
        if role in history_sides:
            out[f"{role}_history"] = {**inputs, f"history_{role}": np.zeros_like(codes)}
    for name, (numeric_cols, categorical_cols) in groups.items():
        numeric, categorical = inputs["numeric"].copy(), inputs["categorical"].copy()
        numeric[:, numeric_cols] = 0.0
        categorical[:, categorical_cols] = 0
        out[name] = {**inputs, "numeric": numeric, "categorical": categorical}
    return out


def explained_value(task, raw: np.ndarray, classes: np.ndarray | None = None) -> np.ndarray:
    """What an explanation of ``task`` measures, per row: a regression task's prediction (in
    y units), a binary or implicit task's probability of the positive class, else the
    probability of the class (label) at ``classes``, one position per row."""
    if not task.is_classifier:
        return np.asarray(task.decode(raw), dtype=np.float64)
    proba = task.proba(raw)
    if task.kind in ("binary", "implicit"):
        return proba[:, 1]
    return proba[np.arange(len(proba)), classes]


@torch.no_grad()
def supporting_members(
    module, tasks, weights, user_rows: dict, recommended: np.ndarray, item_vectors, width, device
):
    """For each user row and each of its recommended items (positions into ``item_vectors``),
    the code of the item of the user's history whose absence lowers that item's score the
    most; -1 where the user has no history.

    ``user_rows`` are the users' encoded inputs, with ``history_user`` where a history is read
    under another code. Scores are those of ``recommend`` (``pair_scores``).
    """
    history = module.history_arrays()["user"]
    indptr, members = history["indptr"], history["members"]
    owners = user_rows.get("history_user", user_rows["user"])
    neutral = neutral_shared(module, width, device)
    best = np.full(recommended.shape, -1, dtype=np.int64)
    for row, owner in enumerate(owners):
        mine = members[indptr[owner] : indptr[owner + 1]]
        if not len(mine):
            continue
        n = len(mine)
        vectors = module.side_vector(
            "user",
            torch.full((n,), int(user_rows["user"][row]), device=device),
            torch.as_tensor(
                np.repeat(user_rows["numeric"][row : row + 1], n, axis=0), device=device
            ),
            torch.as_tensor(
                np.repeat(user_rows["categorical"][row : row + 1], n, axis=0), device=device
            ),
            history_user=torch.full((n,), int(owner), device=device),
            leave_out=torch.as_tensor(mine, device=device),
        )
        items = item_vectors[torch.as_tensor(recommended[row], device=device)]
        without = pair_scores(module, tasks, weights, vectors, items, neutral)
        # the lowest score without a member is the largest drop from the full history's
        best[row] = mine[without.reshape(n, -1).argmin(dim=0).cpu().numpy()]
    return best
