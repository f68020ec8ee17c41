"""Histories given at predict time: a column that lists, per row, the items a user interacted
with, for a user unseen in fit (or one whose history has moved on since)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp


@dataclass
class GivenHistories:
    """The rows of a frame that carry a history, and each one's item codes (items unseen in
    fit dropped: they have no vector to pool)."""

    rows: np.ndarray
    items: list[np.ndarray]

    def owners(self, users: np.ndarray, first: int) -> np.ndarray:
        """The codes a history is read under: each row's user code, or for a row that gives a
        history, its own code from ``first`` on (``History.extended``)."""
        owners = np.array(users, dtype=np.int64)
        owners[self.rows] = first + np.arange(len(self.rows))
        return owners

    def seen(self, n_rows: int, n_items: int) -> sp.csr_matrix:
        """(n_rows, n_items + 1) bool matrix of the given items per row."""
        lengths = [len(items) for items in self.items]
        rows = np.repeat(self.rows, lengths)
        cols = np.concatenate(self.items) if self.items else np.zeros(0, np.int64)
        data = np.ones(len(rows), dtype=bool)
        return sp.csr_matrix((data, (rows, cols)), shape=(n_rows, n_items + 1))


def _is_missing(value) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def _not_a_history(column, row: int, value) -> ValueError:
    return ValueError(
        f"Column {column!r} holds the user's history: a list, tuple, set or array of item ids "
        f"per row (None: none given); row {row} holds {value!r}."
    )


def split_history(
    frame: pd.DataFrame, column, item_codes
) -> tuple[pd.DataFrame, GivenHistories | None]:
    """``frame`` without the history ``column``, and the histories it gave (None when it has
    no such column or every cell is missing). ``item_codes`` maps item ids to codes (0:
    unseen)."""
    if column not in frame.columns:
        return frame, None
    rows, items = [], []
    for row, value in enumerate(frame[column].tolist()):
        if _is_missing(value):
            continue
        if isinstance(value, str | bytes) or not isinstance(value, Iterable):
            raise _not_a_history(column, row, value)
        try:
            # items unseen in fit, of whatever type, are dropped below
            codes = item_codes.transform(pd.Series(list(value), dtype=object), mixed_ok=True)
        except TypeError as exc:  # an unhashable item, such as a list in the list
            raise _not_a_history(column, row, value) from exc
        rows.append(row)
        items.append(np.asarray(codes[codes > 0], dtype=np.int64))
    rest = frame.drop(columns=column)
    if not rows:
        return rest, None
    return rest, GivenHistories(np.asarray(rows, dtype=np.int64), items)
