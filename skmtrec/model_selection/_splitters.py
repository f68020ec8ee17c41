"""Cross-validation splitters for interaction data, with scikit-learn's splitter API."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
import pandas as pd
from sklearn.model_selection import BaseCrossValidator
from sklearn.utils import check_random_state

from .._prepare.features import as_frame, column_label


def _check_share(name: str, value) -> None:
    if not (isinstance(value, Real) and 0 < value < 1):
        raise ValueError(f"{name} must be a float in (0, 1); got {value!r}.")


def _check_n_splits(n_splits) -> None:
    if not (isinstance(n_splits, Integral) and n_splits >= 1):
        raise ValueError(f"n_splits must be an int >= 1; got {n_splits!r}.")


class _RandomShareSplit(BaseCrossValidator):
    """Splits that draw a share of something at random, ``n_splits`` times."""

    def get_n_splits(self, X=None, y=None, groups=None) -> int:
        return self.n_splits

    def _check_share_and_splits(self) -> None:
        _check_share("test_size", self.test_size)
        _check_n_splits(self.n_splits)


class UserHoldout(_RandomShareSplit):
    """Hold out a share of every user's interactions: each test user is also a training user.

    Parameters
    ----------
    test_size : float, default=0.2
        Share of each user's rows in test, rounded; a user always keeps one row in train, so
        users with a single row are train only.
    n_splits : int, default=1
        Number of splits (each a fresh random draw). ``by="time"`` has a single split.
    by : {"random", "time"}, default="random"
        Which rows to hold out: at random, or each user's latest by ``time_col``.
    user_col, time_col : str or int, default="user_id", "timestamp"
        Columns of X (a name, or a position).
    random_state : int, RandomState instance or None, default=None
        Seed of the random draws.

    Examples
    --------
    >>> import pandas as pd
    >>> from skmtrec.model_selection import UserHoldout
    >>> X = pd.DataFrame({"user_id": [1, 1, 1, 2, 2], "timestamp": [5, 1, 3, 2, 9]})
    >>> train, test = next(UserHoldout(0.4, by="time").split(X))
    >>> test.tolist()
    [0, 4]
    """

    def __init__(
        self,
        test_size=0.2,
        *,
        n_splits=1,
        by="random",
        user_col="user_id",
        time_col="timestamp",
        random_state=None,
    ):
        self.test_size = test_size
        self.n_splits = n_splits
        self.by = by
        self.user_col = user_col
        self.time_col = time_col
        self.random_state = random_state

    def _iter_test_masks(self, X=None, y=None, groups=None):
        self._check_share_and_splits()
        if self.by not in ("random", "time"):
            raise ValueError(f"by must be 'random' or 'time'; got {self.by!r}.")
        if self.by == "time" and self.n_splits != 1:
            raise ValueError("by='time' holds out each user's latest rows: use n_splits=1.")
        frame = as_frame(X)
        users = frame[column_label(frame, self.user_col, "user")].to_numpy()
        rng = check_random_state(self.random_state)
        for _ in range(self.n_splits):
            if self.by == "time":
                key = -frame[column_label(frame, self.time_col, "time")].to_numpy(dtype=float)
            else:
                key = rng.random_sample(len(frame))
            order = pd.DataFrame({"user": users, "key": key}).sort_values(
                ["user", "key"], kind="stable"
            )
            rank = order.groupby("user", sort=False).cumcount().to_numpy()
            size = order.groupby("user", sort=False)["key"].transform("size").to_numpy()
            n_test = np.minimum(np.floor(self.test_size * size + 0.5), size - 1)
            mask = np.zeros(len(frame), dtype=bool)
            mask[order.index.to_numpy()[rank < n_test]] = True
            yield mask


class ColdItemSplit(_RandomShareSplit):
    """Item cold start: every row of a random share of the items is test, the rest train.

    Parameters
    ----------
    test_size : float, default=0.2
        Share of the distinct items held out.
    n_splits : int, default=1
        Number of splits, each a fresh random draw of items.
    item_col : str or int, default="item_id"
        The item id column of X.
    random_state : int, RandomState instance or None, default=None
        Seed of the draws.
    """

    def __init__(self, test_size=0.2, *, n_splits=1, item_col="item_id", random_state=None):
        self.test_size = test_size
        self.n_splits = n_splits
        self.item_col = item_col
        self.random_state = random_state

    def _iter_test_masks(self, X=None, y=None, groups=None):
        self._check_share_and_splits()
        frame = as_frame(X)
        items = frame[column_label(frame, self.item_col, "item")].to_numpy()
        distinct = np.sort(pd.unique(items))
        rng = check_random_state(self.random_state)
        n_cold = max(1, int(self.test_size * len(distinct)))
        for _ in range(self.n_splits):
            cold = rng.choice(distinct, n_cold, replace=False)
            yield np.isin(items, cold)
