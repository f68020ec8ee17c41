"""Predicting rows: each distinct user's and item's vector, and its part of the head's first
layers, computed once per chunk of rows however many rows read it.

Rows of one user (or item) mostly carry the same side features, so within a chunk the rows
that agree with another row of their code on the side's columns (and on the history they read)
share its vector; a row that differs stands for itself. A side vector depends on nothing else,
so the outputs are those of ``forward`` on every row.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

# The distinct users' and items' first-layer terms a chunk may keep, in numbers per side: a
# chunk holds this many over the width of the head's first layers in rows, within the bounds
# below (fewest, most rows), so memory grows with neither the rows nor the head.
_TERMS_PER_CHUNK = 2**24
_CHUNK_BOUNDS = (4096, 65536)
# Rows through the head at once: smaller batches stay in cache.
_ROWS_PER_BATCH = 4096


def distinct_rows(codes: np.ndarray, columns: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Representative rows and each row's position among them.

    Rows share a representative when they have the same code and the same value in every
    array of ``columns`` (one value per row); any other row is its own. Returns
    ``(representatives, inverse)``: ``rows[representatives][inverse]`` is the rows.
    """
    n = len(codes)
    top = int(codes.max(initial=0))
    if n and top >= 4 * n:  # codes far beyond the rows: number them densely first
        codes, distinct = pd.factorize(codes)
        top = len(distinct) - 1
    some_row = np.zeros(top + 1, dtype=np.int64)
    some_row[codes] = np.arange(n)  # a row of each code (which one does not matter)
    lead = some_row[codes]
    same = np.ones(n, dtype=bool)
    for values in columns:  # a column at a time, faster than rows of a column-major block
        same &= values == values[lead]
    # linear time, no sort: the codes that some row shares, then the rows that stand alone
    shared = np.flatnonzero(np.bincount(codes[same], minlength=len(some_row)))
    alone = np.flatnonzero(~same)
    position = np.zeros(len(some_row), dtype=np.int64)
    position[shared] = np.arange(len(shared))
    inverse = np.empty(n, dtype=np.int64)
    inverse[same] = position[codes[same]]
    inverse[alone] = len(shared) + np.arange(len(alone))
    return np.concatenate([some_row[shared], alone]), inverse


def _distinct_vectors(module, role: str, rows: dict, device) -> tuple[torch.Tensor, torch.Tensor]:
    """The distinct side vectors of ``role`` among ``rows`` (encoded), and each row's
    position among them."""
    numeric_cols, categorical_cols = module.side_columns(role)
    owners = rows.get("history_user") if role == "user" else None
    columns = [rows["numeric"][:, j] for j in numeric_cols]
    columns += [rows["categorical"][:, j] for j in categorical_cols]
    if owners is not None:
        columns.append(owners)
    representatives, inverse = distinct_rows(rows[role], columns)

    def picked(values):
        return None if values is None else torch.as_tensor(values[representatives], device=device)

    vectors = module.side_vector(
        role,
        picked(rows[role]),
        picked(rows["numeric"]),
        picked(rows["categorical"]),
        history_user=picked(owners),
    )
    return vectors, torch.as_tensor(inverse, device=device)


@torch.no_grad()
def predict_rows(module, inputs: dict[str, np.ndarray], device) -> list[np.ndarray]:
    """The network's outputs for encoded rows (``inputs`` as the network reads them, both ids
    present), as numpy arrays, one per task."""
    module.eval()
    width = max(1, module.first_layers_width())
    chunk = int(np.clip(_TERMS_PER_CHUNK // width, *_CHUNK_BOUNDS))
    batches = []
    for start in range(0, len(inputs["user"]), chunk):
        rows = {k: v[start : start + chunk] for k, v in inputs.items()}
        users, user_rows = _distinct_vectors(module, "user", rows, device)
        items, item_rows = _distinct_vectors(module, "item", rows, device)
        shared = module.shared_input(
            torch.as_tensor(rows["numeric"], device=device),
            torch.as_tensor(rows["categorical"], device=device),
        )
        terms = {}  # the distinct users' and items' first-layer terms, for every batch
        for b in range(0, len(shared), _ROWS_PER_BATCH):
            part = slice(b, b + _ROWS_PER_BATCH)
            outputs = module.score_rows(
                users, items, user_rows[part], item_rows[part], shared[part], terms
            )
            batches.append([out.cpu() for out in outputs])
    return [torch.cat(task).numpy() for task in zip(*batches, strict=True)]
