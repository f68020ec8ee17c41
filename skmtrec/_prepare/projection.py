"""Principal components of wide side features, computed once per fit.

A side's numeric features can be wide (the columns of a title's text embedding) while the side
has few distinct values (the films of a small catalog). Mapped into the item's vector by a
learned linear layer, so many columns single out each training item, and a new item's content
lands near one of them rather than among items like it. The first principal components over
the items (users) in fit keep what the features share across items and leave out what singles
one out.
"""

from __future__ import annotations

import numpy as np


def principal_projection(rows: np.ndarray, n_components: int) -> np.ndarray:
    """(n_columns, n_components) that maps ``rows`` onto their first principal components,
    each scaled to unit variance over the rows; columns past the rows' rank are zero."""
    centered = rows - rows.mean(axis=0)
    _, singular, vt = np.linalg.svd(centered.astype(np.float64), full_matrices=False)
    k = min(n_components, len(singular))
    std = singular[:k] / np.sqrt(max(len(rows) - 1, 1))
    # Singular values come largest first. One within the rows' rounding error (the rank
    # tolerance of np.linalg.matrix_rank, at the rows' precision: float32 as encoded) is a
    # direction with no variance: unit variance along it would multiply a new row's content
    # by about 1/eps, so it gets no weight.
    eps = np.finfo(np.result_type(rows.dtype, np.float32)).eps
    scale = np.divide(1.0, std, out=np.zeros_like(std), where=std > max(rows.shape) * eps * std[0])
    projection = np.zeros((rows.shape[1], n_components), dtype=np.float32)
    projection[:, :k] = vt[:k].T * scale
    return projection


def content_projections(inputs: dict, sides: dict, n_components: int | None) -> dict:
    """``{side: projection}`` for each side whose numeric features outnumber ``n_components``,
    over its distinct users or items in the encoded ``inputs`` (one row each)."""
    if n_components is None:
        return {}
    out = {}
    for role, columns in sides.items():
        numeric = list(columns.get("numeric", ()))
        if len(numeric) > n_components and role in inputs:
            _, first = np.unique(inputs[role], return_index=True)
            out[role] = principal_projection(inputs["numeric"][first][:, numeric], n_components)
    return out
