"""The catalog kept in fit: each item's and user's side features, and what each user has seen."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from .._persistence.state_checks import expect_array, expect_csr, expect_keys

_TABLES = ("item_numeric", "item_categorical", "user_numeric", "user_categorical")


def _table(codes: np.ndarray, values: np.ndarray, n_codes: int) -> np.ndarray:
    """One row of ``values`` per code (row 0, the unseen code, stays zero: the population)."""
    table = np.zeros((n_codes + 1, values.shape[1]), dtype=values.dtype)
    table[codes] = values  # side features are constant per code, so any row of it will do
    return table


@dataclass
class Catalog:
    """Encoded feature rows per item code and per user code, and the seen (user, item) pairs.

    Rows are full width (every numeric and categorical column); only the columns of the
    item's (user's) side are meaningful in the item (user) table.
    """

    item_numeric: np.ndarray
    item_categorical: np.ndarray
    user_numeric: np.ndarray
    user_categorical: np.ndarray
    seen: sp.csr_matrix

    @classmethod
    def from_inputs(cls, inputs: dict[str, np.ndarray], n_users: int, n_items: int) -> Catalog:
        users, items = inputs["user"], inputs["item"]
        seen = sp.csr_matrix(
            (np.ones(len(users), dtype=bool), (users, items)), shape=(n_users + 1, n_items + 1)
        )
        seen.sum_duplicates()
        return cls(
            item_numeric=_table(items, inputs["numeric"], n_items),
            item_categorical=_table(items, inputs["categorical"], n_items),
            user_numeric=_table(users, inputs["numeric"], n_users),
            user_categorical=_table(users, inputs["categorical"], n_users),
            seen=seen,
        )

    @property
    def n_items(self) -> int:
        return self.item_numeric.shape[0] - 1

    def features(self, role: str, codes: np.ndarray) -> dict[str, np.ndarray]:
        """The ``numeric`` and ``categorical`` input rows of the users' or items' ``codes``."""
        if role == "user":
            return {
                "numeric": self.user_numeric[codes],
                "categorical": self.user_categorical[codes],
            }
        return {"numeric": self.item_numeric[codes], "categorical": self.item_categorical[codes]}

    def state(self) -> dict[str, np.ndarray]:
        """The catalog as arrays (``from_state`` takes them back)."""
        state = {k: v for k, v in vars(self).items() if k != "seen"}
        state["seen_indptr"], state["seen_indices"] = self.seen.indptr, self.seen.indices
        return state

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray]) -> Catalog:
        """The catalog of ``state()``."""
        expect_keys(state, [*_TABLES, "seen_indptr", "seen_indices"], "catalog")
        tables = {k: state[k] for k in _TABLES}
        for name, table in tables.items():
            expect_array(table, f"catalog.{name}", kinds="f" if "numeric" in name else "iu", ndim=2)
        n_users, n_items = len(tables["user_numeric"]), len(tables["item_numeric"])
        for role, n in (("user", n_users), ("item", n_items)):
            if len(tables[f"{role}_categorical"]) != n:
                raise ValueError(f"catalog.{role}_categorical has {n} rows, as {role}_numeric")
        indptr, indices = state["seen_indptr"], state["seen_indices"]
        expect_csr(indptr, indices, n_users, n_items, "catalog.seen")
        seen = sp.csr_matrix(
            (np.ones(len(indices), dtype=bool), indices, indptr), shape=(n_users, n_items)
        )
        return cls(**tables, seen=seen)


class NegativeSampler:
    """Adds ``ratio`` sampled negatives per row to a training batch, for the implicit tasks.

    A negative keeps the row's user (and its user and interaction features) and takes an item
    drawn uniformly from the catalog, with that item's features. Draws that hit an item the user
    has seen are drawn again once. On negatives, implicit tasks are labelled 0 and every other
    task is missing (NaN), so they train the implicit tasks only.
    """

    def __init__(
        self,
        catalog: Catalog,
        ratio: int,
        implicit_columns: list[int],
        item_numeric: tuple[int, ...],
        item_categorical: tuple[int, ...],
    ):
        self.ratio = ratio
        self.implicit_columns = list(implicit_columns)
        self.n_items = catalog.n_items
        self.item_numeric = torch.as_tensor(catalog.item_numeric[:, list(item_numeric)])
        self.item_categorical = torch.as_tensor(catalog.item_categorical[:, list(item_categorical)])
        self.numeric_cols = list(item_numeric)
        self.categorical_cols = list(item_categorical)
        coo = catalog.seen.tocoo()
        self.seen_keys = torch.as_tensor(
            np.sort(coo.row.astype(np.int64) * (self.n_items + 1) + coo.col)
        )

    def _seen(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        keys = users * (self.n_items + 1) + items
        pos = torch.searchsorted(self.seen_keys, keys).clamp(max=len(self.seen_keys) - 1)
        return self.seen_keys[pos] == keys

    def __call__(self, X: dict[str, torch.Tensor], y: torch.Tensor, generator=None):
        rows = torch.arange(len(y)).repeat_interleave(self.ratio)
        users = X["user"][rows]
        items = torch.randint(1, self.n_items + 1, (len(rows),), generator=generator)
        again = self._seen(users, items)
        items[again] = torch.randint(1, self.n_items + 1, (int(again.sum()),), generator=generator)
        # indexing copies: the writes below leave X as it was
        negatives = {key: value[rows] for key, value in X.items()}
        negatives["item"] = items
        if self.numeric_cols:
            negatives["numeric"][:, self.numeric_cols] = self.item_numeric[items]
        if self.categorical_cols:
            negatives["categorical"][:, self.categorical_cols] = self.item_categorical[items]
        labels = torch.full((len(rows), y.shape[1]), float("nan"), dtype=y.dtype)
        labels[:, self.implicit_columns] = 0.0
        X_out = {key: torch.cat([X[key], negatives[key]]) for key in X}
        return X_out, torch.cat([y, labels])
