"""A user x item sparse matrix, as implicit and LightFM hold interactions, read as the long table
of interactions that ``fit`` learns from.

Rows are users and columns items; their indices (0, 1, ...) are the ids. Each stored entry
is one interaction, a row of the long table; an explicit zero is no interaction. The entries'
values are the labels of the one task that has labels (a regression or binary task), or, with
implicit tasks only, are not read: every entry is a positive. A binary task's negatives are
stored as another nonzero value, as LightFM's logistic loss takes them (1 and -1): a 0/1
matrix holds its ones only, and is refused as one class with a message that says so.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .._tasks import TASK_KINDS

# The task kinds whose label an entry's single value can be.
_VALUED_KINDS = ("regression", "binary")


def is_interaction_matrix(X) -> bool:
    """Whether ``X`` is a scipy.sparse matrix or array (read as a user x item matrix)."""
    return sp.issparse(X)


def fit_inputs(X, y, tasks: Mapping[str, str] | None, user_col, item_col):
    """``X`` and ``y`` as ``fit`` reads them: a sparse user x item ``X`` becomes the long table
    of its entries (ids in the ``user_col`` and ``item_col`` columns, in row-major order:
    by user, then item) and ``y`` the one task's labels read from its values (None with
    implicit tasks only); anything else is returned as it is."""
    if not is_interaction_matrix(X):
        return X, y
    if y is not None:
        raise ValueError(
            "A sparse X is a user x item matrix whose values are the labels, so y must be None; "
            "to give labels in y, pass X as a table of (user, item) rows."
        )
    if tasks is None:
        raise ValueError(
            "A sparse X (a user x item matrix) needs `tasks` to say what its entries are, e.g. "
            "{'interacted': 'implicit'} (every entry a positive) or {'rating': 'regression', "
            "'interacted': 'implicit'} (the values are the ratings)."
        )
    labeled = _labeled_task(tasks)
    users, items, values = _entries(X)
    if labeled is not None and tasks[labeled] == "binary":
        _check_two_values(values, labeled)
    frame = _id_frame(users, items, user_col, item_col)
    return frame, None if labeled is None else pd.DataFrame({labeled: values})


def _labeled_task(tasks: Mapping[str, str]) -> str | None:
    """The task whose labels a sparse X's values are; None with implicit tasks only."""
    labeled = [name for name, kind in tasks.items() if not TASK_KINDS[kind].implied_by_rows]
    for name in labeled:
        if tasks[name] not in _VALUED_KINDS:
            raise ValueError(
                f"Task {name!r} is {tasks[name]}: a sparse X's entries hold one number each, "
                f"which can be the label of a regression or binary task only. Pass X as a table "
                f"of (user, item) rows and the labels of {name!r} in y."
            )
    if len(labeled) > 1:
        raise ValueError(
            f"A sparse X's values can be the labels of one task, but `tasks` names {labeled}; "
            "keep one of them (and implicit tasks), or pass X as a table of (user, item) rows "
            "and the labels in y."
        )
    return labeled[0] if labeled else None


def _check_two_values(values: np.ndarray, task: str) -> None:
    """Refuse a binary task whose labels, a sparse X's values, are all one value: the zeros
    of a 0/1 matrix are absent entries, not negatives."""
    distinct = np.unique(values)
    if len(distinct) < 2:
        raise ValueError(
            f"Task {task!r} is binary, but every entry of the sparse X holds {distinct[0]:g}: "
            "a sparse matrix's zeros are absent entries (no interaction), not negatives. Store "
            "the negatives as another nonzero value, e.g. -1 for no and 1 for yes (as LightFM's "
            "logistic loss takes them), or pass X as a table of (user, item) rows and the 0/1 "
            f"labels of {task!r} in y."
        )


def _entries(X) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The row, column and value of each stored nonzero entry of ``X``, row-major; duplicate
    entries summed (as scipy does), explicit zeros dropped."""
    if X.ndim != 2:
        raise ValueError(f"A sparse X must be 2-D (users x items); got shape {X.shape}.")
    if X.dtype.kind not in "biuf":
        raise ValueError(f"A sparse X must hold numbers; got dtype {X.dtype}.")
    matrix = sp.csr_array(X, copy=True)
    matrix.sum_duplicates()
    matrix.eliminate_zeros()
    if matrix.nnz == 0:
        raise ValueError(
            f"The sparse X of shape {X.shape} has no nonzero entry: there is no interaction "
            "to learn from."
        )
    values = matrix.data.astype(np.float64)
    if not np.isfinite(values).all():
        bad = int(np.argmin(np.isfinite(values)))
        row = int(np.searchsorted(matrix.indptr, bad, side="right") - 1)
        raise ValueError(
            f"The sparse X holds NaN or infinity (at user {row}, item {matrix.indices[bad]}); "
            "leave an entry out to mark no interaction."
        )
    users = np.repeat(np.arange(matrix.shape[0], dtype=np.int64), np.diff(matrix.indptr))
    return users, matrix.indices.astype(np.int64), values


def _id_frame(users, items, user_col, item_col) -> pd.DataFrame:
    """The user and item ids as the columns ``user_col`` and ``item_col`` name: both names, or
    both positions (0 and 1)."""
    if user_col is None or item_col is None:
        raise ValueError(
            "A sparse X is a user x item matrix, so it needs both id columns: set `user_col` "
            "and `item_col` (the defaults do)."
        )
    if isinstance(user_col, str) and isinstance(item_col, str):
        return pd.DataFrame({user_col: users, item_col: items})
    if {user_col, item_col} == {0, 1}:
        return pd.DataFrame({user_col: users, item_col: items})[[0, 1]]
    raise ValueError(
        f"With a sparse X, `user_col` and `item_col` name its two id columns: two names, or the "
        f"positions 0 and 1; got user_col={user_col!r}, item_col={item_col!r}."
    )
