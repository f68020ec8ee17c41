"""Explanations: how much each input group moves a prediction, and which history item backs a
recommendation. Both are ablations: the prediction minus the prediction with one part taken
away (set to what a model sees for an unknown user, item or value)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import numpy as np
import torch

from .ranking import neutral_shared, pair_scores

_BLOCK_COLUMN = re.compile(r"^(?P<name>.+)_(?P<k>\d+)$")
# where the ``explain`` calls of this context put the values they explain (``explained_values``)
_EXPLAINED: ContextVar[list | None] = ContextVar("skmtrec_explained", default=None)


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


@contextmanager
def explained_values() -> Iterator[list[np.ndarray]]:
    """A list that gets, for each ``explain`` made inside (of this thread or task only), the
    value it explains per row (``explained_value``), from the forward pass it explains."""
    values: list[np.ndarray] = []
    token = _EXPLAINED.set(values)
    try:
        yield values
    finally:
        _EXPLAINED.reset(token)


def record_explained(value: np.ndarray) -> None:
    """Give ``value``, what an ``explain`` explains, to the ``explained_values`` around it."""
    values = _EXPLAINED.get()
    if values is not None:
        values.append(value)


# How many of the items a user's full history ranks highest a recommendation is measured
# against (``supporting_members``): its competitors for a place in the list.
_COMPETITORS = 30


@torch.no_grad()
def supporting_members(
    module, tasks, weights, user_rows: dict, recommended: np.ndarray, item_vectors, width, device,
    exclude=None,
):  # fmt: skip
    """For each user row and each of its recommended items (positions into ``item_vectors``),
    the code of the item of the user's history that lifts that item the most above the items
    it competes with; -1 where the user has no history.

    A member's support of an item is the drop of the item's score when the member leaves the
    history, less the mean drop of the item's competitors: the ``_COMPETITORS`` items of
    ``item_vectors`` that the user's full history ranks highest, leaving out those that
    ``exclude(rows)`` (where given) masks. Scores are in each task's units before the link (a
    binary or implicit task's logit, a regression task's value), blended with the ranking
    ``weights``.

    The drop alone named the member that lifts every item: an item in most histories shifts
    every logit when taken away, more than the one member that an item goes with, so it came
    out as the reason for most recommendations, whatever they were. Measured against the
    whole catalog's mean drop instead, a member that lifts the user's whole neighbourhood of
    the catalog above the rest came out as the reason for as many.

    ``user_rows`` are the users' encoded inputs, with ``history_user`` where a history is read
    under another code.
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
        rows = {
            "codes": torch.full((n + 1,), int(user_rows["user"][row]), device=device),
            "numeric": torch.as_tensor(
                np.repeat(user_rows["numeric"][row : row + 1], n + 1, axis=0), device=device
            ),
            "categorical": torch.as_tensor(
                np.repeat(user_rows["categorical"][row : row + 1], n + 1, axis=0),
                device=device,
            ),
            "history_user": torch.full((n + 1,), int(owner), device=device),
        }
        full = module.side_vector("user", *(v[:1] for v in rows.values()))
        without = module.side_vector(
            "user", *(v[1:] for v in rows.values()), leave_out=torch.as_tensor(mine, device=device)
        )
        mask = None if exclude is None else exclude(slice(row, row + 1))
        competitors = _competitors(module, tasks, weights, full, item_vectors, neutral, mask)
        items = item_vectors[torch.as_tensor(recommended[row], device=device)]
        specific = pair_scores(module, tasks, weights, without, items, neutral, logits=True)
        specific = specific.reshape(n, -1)
        if len(competitors) > 1:  # an item alone is its own mean: its drop alone measures
            ranked = item_vectors[torch.as_tensor(competitors, device=device)]
            general = pair_scores(module, tasks, weights, without, ranked, neutral, logits=True)
            # drop(item) - mean drop = (full - without)(item) - mean(full - without), where
            # the full history's part is the same for every member: the largest is the
            # lowest of this
            specific = specific - general.reshape(n, -1).mean(dim=1, keepdim=True)
        best[row] = mine[specific.argmin(dim=0).cpu().numpy()]
    return best


def _competitors(module, tasks, weights, vector, item_vectors, neutral, mask) -> np.ndarray:
    """Positions of the ``_COMPETITORS`` items of ``item_vectors`` that one user ``vector``
    ranks highest, leaving out those ``mask`` (a bool row, or None) masks."""
    scores = pair_scores(module, tasks, weights, vector, item_vectors, neutral).reshape(-1)
    if mask is not None:
        scores[torch.as_tensor(np.asarray(mask).reshape(-1), device=scores.device)] = -torch.inf
    n_allowed = int(torch.isfinite(scores).sum())
    return torch.topk(scores, min(_COMPETITORS, n_allowed)).indices.cpu().numpy()
