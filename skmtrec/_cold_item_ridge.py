"""A closed-form content model of a regression task, for items new to fit.

The network places a new item by its features, through layers that SGD trained on the
catalog's rows. A ridge regression per user on the item's content finds each user's content
preferences (old films, dramas) exactly from that user's ratings, which the network does not:
on MovieLens items held out of fit, the two models' errors correlated at 0.64 only, and their
mean rated the new items about a point below either alone (see the README's R3).

The model: the global mean; the user's mean offset from it; an item offset regressed on the
content (each item's mean residual shrunk toward 0 as if it had ``ITEM_SHRINKAGE`` more ratings,
so that rare items count less); and, per user, a ridge of what remains on the same content,
its penalty chosen among ``PENALTIES`` on a share of the items held out of the fit. The users'
systems are solved in blocks of users, each user's Gram matrix a sum of their items' outer
products, so that the cost grows with the ratings and the items, not with their product.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ._projection import principal_projection

# A wide numeric side (a text embedding) enters through this many principal components: a user's
# hundred ratings cannot place a weight per column. On held-out MovieLens items, 8 components of
# the title embeddings rated new items better than 16 or 32, and as well as 4 (chosen per fit
# on held-out items beside the penalty, 4 or 8 gave the same figures).
COMPONENTS = 8
# A categorical item feature with more values than this is left to the network.
MAX_LEVELS = 64
ITEM_SHRINKAGE = 25.0
ITEM_PENALTY = 1.0
PENALTIES = (10.0, 30.0, 100.0, 300.0)
HELD_OUT_ITEMS = 0.2
# users whose Gram matrices are held at once (memory: this many x width^2 floats)
_BLOCK_USERS = 4096


class ItemContent:
    """The design matrix of the item-side features: numeric ones (their first ``COMPONENTS``
    principal components over the items where there are more columns), each categorical one
    with at most ``MAX_LEVELS`` values one-hot, and a constant.

    Parameters
    ----------
    numeric, categorical : list of int
        The item side's columns of the encoded ``numeric`` and ``categorical`` inputs.
    levels : list of int
        The number of values (codes past 0) of each of ``categorical``.
    """

    def __init__(self, numeric: list[int], categorical: list[int], levels: list[int]):
        self.numeric = list(numeric)
        kept = [(c, n) for c, n in zip(categorical, levels, strict=True) if n <= MAX_LEVELS]
        self.categorical = [c for c, _ in kept]
        self.levels = [n for _, n in kept]
        self.projection: np.ndarray | None = None

    def fit(self, inputs: dict[str, np.ndarray]) -> ItemContent:
        if len(self.numeric) > COMPONENTS:
            _, first = np.unique(inputs["item"], return_index=True)
            rows = inputs["numeric"][first][:, self.numeric]
            self.projection = principal_projection(rows, COMPONENTS).astype(np.float64)
        return self

    @property
    def width(self) -> int:
        numeric = len(self.numeric) if self.projection is None else self.projection.shape[1]
        return numeric + sum(self.levels) + 1

    def transform(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        """(n_rows, width) float64: the content of each row's item."""
        numeric = inputs["numeric"][:, self.numeric].astype(np.float64)
        if self.projection is not None:
            numeric = numeric @ self.projection
        parts = [numeric]
        for column, n in zip(self.categorical, self.levels, strict=True):
            # code 0 (a value unseen in fit) is no level: a row of zeros
            parts.append(np.eye(n + 1)[inputs["categorical"][:, column]][:, 1:])
        parts.append(np.ones((len(numeric), 1)))
        return np.hstack(parts)

    def state(self) -> dict:
        return dict(vars(self))

    @classmethod
    def from_state(cls, state: dict) -> ItemContent:
        content = cls.__new__(cls)
        content.__dict__.update(state)
        return content


class ColdItemRidge:
    """Predicts one regression task for (user, item) rows from the item's content alone.

    Parameters
    ----------
    content : ItemContent
        The fitted design of the item features.
    n_users : int
        User codes run from 0 (unseen) to ``n_users``.
    """

    def __init__(self, content: ItemContent, n_users: int):
        self.content = content
        self.n_users = n_users

    def fit(self, inputs: dict[str, np.ndarray], values: np.ndarray, seed: int) -> ColdItemRidge:
        """Fit on the rows of ``inputs`` whose ``values`` are not missing; the per-user penalty
        is the one of ``PENALTIES`` that rates best the items a ``seed``-drawn
        ``HELD_OUT_ITEMS`` share of them hides, refitted on every row."""
        present = ~np.isnan(values)
        users, items = inputs["user"][present], inputs["item"][present]
        design = self.content.transform({key: column[present] for key, column in inputs.items()})
        values = values[present].astype(np.float64)
        distinct = np.unique(items)
        n_held = int(HELD_OUT_ITEMS * len(distinct))
        if n_held == 0 or n_held == len(distinct):
            self.penalty = PENALTIES[len(PENALTIES) // 2]
        else:
            held = np.isin(items, np.random.RandomState(seed).choice(distinct, n_held, False))
            fitted = self._solve(users[~held], items[~held], design[~held], values[~held])
            errors = [
                np.mean((values[held] - self._predict(fitted, p, users[held], design[held])) ** 2)
                for p in range(len(PENALTIES))
            ]
            self.penalty = PENALTIES[int(np.argmin(errors))]
        fitted = self._solve(users, items, design, values, penalties=(self.penalty,))
        self.mean, self.user_offset, self.item_weights, self.user_weights = fitted
        return self

    def predict(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        """The task's value for each row of ``inputs``, as if its item were new."""
        fitted = (self.mean, self.user_offset, self.item_weights, self.user_weights)
        return self._predict(fitted, 0, inputs["user"], self.content.transform(inputs))

    @staticmethod
    def _predict(fitted, penalty: int, users, design) -> np.ndarray:
        mean, user_offset, item_weights, user_weights = fitted
        per_user = np.einsum("nd,nd->n", design, user_weights[penalty][users])
        return mean + user_offset[users] + design @ item_weights + per_user

    def _solve(self, users, items, design, values, penalties=PENALTIES):
        """The fitted arrays; ``user_weights`` has one (n_users + 1, width) slice per penalty."""
        mean = float(values.mean())
        counts = np.bincount(users, minlength=self.n_users + 1)
        sums = np.bincount(users, values - mean, minlength=self.n_users + 1)
        user_offset = sums / np.maximum(counts, 1)
        rest = values - mean - user_offset[users]

        _, first, per_row = np.unique(items, return_index=True, return_inverse=True)
        n = np.bincount(per_row).astype(np.float64)
        target = np.bincount(per_row, rest) / (n + ITEM_SHRINKAGE)
        weight = n / (n + ITEM_SHRINKAGE)
        item_design = design[first]
        gram = (item_design * weight[:, None]).T @ item_design
        item_weights = np.linalg.solve(
            gram + ITEM_PENALTY * np.eye(design.shape[1]), item_design.T @ (weight * target)
        )
        rest = rest - design @ item_weights

        # a user's Gram matrix is the sum of their items' outer products, counted per rating
        shape = (self.n_users + 1, len(first))
        ratings = sp.csr_matrix((np.ones(len(users)), (users, per_row)), shape=shape)
        outer = np.einsum("ni,nj->nij", item_design, item_design).reshape(len(first), -1)
        rhs = sp.csr_matrix((rest, (users, per_row)), shape=shape) @ item_design
        width = design.shape[1]
        user_weights = np.zeros((len(penalties), self.n_users + 1, width), dtype=np.float32)
        for begin in range(0, self.n_users + 1, _BLOCK_USERS):
            block = slice(begin, begin + _BLOCK_USERS)
            grams = (ratings[block] @ outer).reshape(-1, width, width)
            for p, penalty in enumerate(penalties):
                user_weights[p, block] = np.linalg.solve(
                    grams + penalty * np.eye(width), rhs[block, :, None]
                )[..., 0]
        return mean, user_offset, item_weights, user_weights

    def state(self) -> dict:
        state = {k: v for k, v in vars(self).items() if k != "content"}
        return {**state, "content": self.content.state()}

    @classmethod
    def from_state(cls, state: dict) -> ColdItemRidge:
        ridge = cls(ItemContent.from_state(state["content"]), state["n_users"])
        ridge.__dict__.update({k: v for k, v in state.items() if k != "content"})
        return ridge
