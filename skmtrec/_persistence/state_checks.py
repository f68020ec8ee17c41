"""Checks of a fitted state read back from a model file.

A state that ``skmtrec.load`` rebuilds an object from is data from a file: each piece is
checked for the keys, types and shapes the object relies on before it is used, and a failure is
a ValueError naming the field.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def expect_keys(state, expected: Iterable[str], field: str) -> dict:
    """``state``, a dict with exactly the keys ``expected``."""
    expected = set(expected)
    if not isinstance(state, dict):
        raise ValueError(f"{field} is a {type(state).__name__}, not a mapping")
    missing, extra = sorted(expected - set(state)), sorted(set(state) - expected, key=str)
    if missing:
        raise ValueError(f"{field} lacks the entries {missing}")
    if extra:
        raise ValueError(f"{field} has unknown entries {extra}")
    return state


def expect_array(
    value, field: str, *, kinds: str, ndim: int, length: int | None = None
) -> np.ndarray:
    """``value``, an array of a dtype of ``kinds`` with ``ndim`` dimensions (and ``length``
    rows), finite if floating."""
    if not isinstance(value, np.ndarray) or value.dtype.kind not in kinds or value.ndim != ndim:
        shape = getattr(value, "shape", None)
        dtype = getattr(value, "dtype", type(value).__name__)
        raise ValueError(
            f"{field} must be a {ndim}-D array of kind {kinds!r}; it is {dtype} of shape {shape}"
        )
    if length is not None and len(value) != length:
        raise ValueError(f"{field} has {len(value)} rows where {length} are needed")
    if value.dtype.kind in "fc" and not np.isfinite(value).all():
        raise ValueError(f"{field} holds NaN or infinite values")
    return value


def expect_int(value, field: str, minimum: int = 0) -> int:
    """``value``, an int of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{field} must be an int of at least {minimum}; it is {value!r}")
    return int(value)


def expect_csr(indptr, indices, n_rows: int, n_columns: int, field: str, first: int = 0) -> None:
    """``indptr`` and ``indices``, the CSR structure of ``n_rows`` rows whose column codes lie
    in ``[first, n_columns)``."""
    expect_array(indptr, f"{field} indptr", kinds="iu", ndim=1, length=n_rows + 1)
    expect_array(indices, f"{field} indices", kinds="iu", ndim=1)
    if indptr[0] != 0 or indptr[-1] != len(indices) or (np.diff(indptr) < 0).any():
        raise ValueError(f"{field} indptr does not index its {len(indices)} entries in order")
    if len(indices) and (indices.min() < first or indices.max() >= n_columns):
        raise ValueError(f"{field} indices lie outside [{first}, {n_columns})")
