"""The peers that the benchmarks run beside skmtrec: EASE and an item-kNN for R2, myFM for R1.

Nothing is tuned on a test fold. EASE's lambda and the item-kNN's weighting and neighbours are
chosen by ``choose_on_validation``: it holds out ``VALIDATION_SHARE`` of the training rows (seed
0), fits each value of a grid on the rest and keeps the one with the best NDCG@10 by the R2
definition on the held-out rows. myFM is not tuned: its rank and iterations are those of myFM's
own ML-100K tutorial (see ``myfm_fit_predict``).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from _common import K, r2_metrics
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import OneHotEncoder

from skmtrec.datasets import GENRES

VALIDATION_SHARE = 0.15
EASE_GRID = (50, 100, 200, 300, 500, 800, 1200, 2000)
# (weighting, neighbours) of ItemKNN
KNN_GRID = tuple((w, k) for w in ("cosine", "bm25") for k in (20, 50, 100, 200, 400, 800))
MYFM_RANK = 10


def user_item_matrix(frame: pd.DataFrame, users: pd.Index, items: pd.Index) -> sp.csr_matrix:
    """Binary users x items matrix: 1 where ``frame`` has a row for the pair."""
    return sp.csr_matrix(
        (
            np.ones(len(frame), dtype=np.float32),
            (users.get_indexer(frame["user_id"]), items.get_indexer(frame["item_id"])),
        ),
        shape=(len(users), len(items)),
    )


class _Ranker:
    """Fits on a ratings frame and ranks, per user, the items that user has not rated in it."""

    def fit(self, train: pd.DataFrame):
        self.users_ = pd.Index(np.sort(train["user_id"].unique()))
        self.items_ = pd.Index(np.sort(train["item_id"].unique()))
        self.seen_ = user_item_matrix(train, self.users_, self.items_)
        start = time.perf_counter()
        self._fit(train)
        self.fit_seconds_ = time.perf_counter() - start
        return self

    def recommend(self, users: Iterable, k: int = K) -> dict:
        """Each known user's ``k`` best unrated item ids, best first."""
        users = np.asarray(users)
        codes = self.users_.get_indexer(users)
        known = codes >= 0
        top = self._top(codes[known], k)
        return {
            u: self.items_[row[row >= 0]].tolist() for u, row in zip(users[known], top, strict=True)
        }


class Ease(_Ranker):
    """EASE (Steck, WWW 2019): B = -P / diag(P) with P = (X^T X + lam I)^-1, zero diagonal;
    a user's scores are their row of X times B. X is every training rating, or only those of at
    least ``min_rating``; either way every rated item is left out of the user's ranking."""

    def __init__(self, lam: float = 300.0, *, min_rating: int | None = None):
        self.lam = lam
        self.min_rating = min_rating

    def _fit(self, train):
        positives = train if self.min_rating is None else train[train["rating"] >= self.min_rating]
        self._X = user_item_matrix(positives, self.users_, self.items_)
        gram = (self._X.T @ self._X).toarray().astype(np.float64)
        gram[np.diag_indices_from(gram)] += self.lam
        precision = np.linalg.inv(gram)
        self._B = precision / -np.diag(precision)
        np.fill_diagonal(self._B, 0.0)

    def _top(self, codes, k):
        scores = self._X[codes] @ self._B
        scores[self.seen_[codes].toarray() > 0] = -np.inf
        return np.argsort(-scores, axis=1, kind="stable")[:, :k]


class ItemKNN(_Ranker):
    """Item-based kNN from implicit on the binary matrix of every training rating: ``neighbours``
    neighbours per item, similarities from ``weighting`` ("cosine": ``CosineRecommender``,
    "bm25": ``BM25Recommender``, which weighs the matrix by BM25 first), fitted on ``threads``
    threads (0: implicit's default, every core)."""

    def __init__(self, neighbours: int = 100, *, weighting: str = "cosine", threads: int = 0):
        self.neighbours = neighbours
        self.weighting = weighting
        self.threads = threads

    def _fit(self, train):
        from implicit.nearest_neighbours import BM25Recommender, CosineRecommender
        from implicit.utils import ParameterWarning

        make = {"cosine": CosineRecommender, "bm25": BM25Recommender}[self.weighting]
        self._model = make(K=self.neighbours, num_threads=self.threads)
        with warnings.catch_warnings():
            # BM25Recommender hands its own weighted COO matrix on, and warns about it
            warnings.simplefilter("ignore", ParameterWarning)
            self._model.fit(self.seen_.astype(np.float64), show_progress=False)

    def _top(self, codes, k):
        ids, _ = self._model.recommend(codes, self.seen_[codes], N=k)
        return ids


def choose_on_validation(
    make: Callable[[Any], _Ranker],
    grid: Iterable,
    train: pd.DataFrame,
    *,
    share: float = VALIDATION_SHARE,
    random_state: int = 0,
) -> tuple[Any, dict[Any, float]]:
    """The value of ``grid`` whose ``make(value)``, fitted on ``train`` less a held-out
    ``share`` of its rows, ranks best on them: NDCG@10 by R2, relevant = held-out rating >= 4,
    every item not in the fitting rows ranked. Returns the value and every value's NDCG."""
    fit_rows, held_out = train_test_split(train, test_size=share, random_state=random_state)
    users = np.sort(held_out.loc[held_out["rating"] >= 4, "user_id"].unique())
    items = np.sort(train["item_id"].unique())
    ndcg = {
        value: r2_metrics(make(value).fit(fit_rows).recommend(users), held_out, items)["ndcg"]
        for value in grid
    }
    return max(ndcg, key=ndcg.get), ndcg


def fit_validated(make: Callable[[Any], _Ranker], grid: Iterable, train: pd.DataFrame):
    """``make(value)`` with the value chosen by ``choose_on_validation``, refitted on all of
    ``train``; the value is in ``chosen_``, the grid's validation NDCG in ``validation_ndcg_``."""
    chosen, ndcg = choose_on_validation(make, grid, train)
    model = make(chosen).fit(train)
    model.chosen_, model.validation_ndcg_ = chosen, ndcg
    return model


def _relation_blocks(train, frames, *, side, implicit):
    """myFM's two relation blocks, users and items, for each frame of ``frames``, and the width
    of each group of their columns. A user is a one-hot id (all zeros if not in ``train``); with
    ``side``, also their age (5-year bins), gender and occupation one-hot; with ``implicit``, also
    the items they rated in ``train``, each weighted 1 / sqrt(their count). An item likewise: id,
    genre flags, the users who rated it in ``train``."""
    from myfm import RelationBlock

    users = pd.Index(np.sort(train["user_id"].unique()))
    items = pd.Index(np.sort(train["item_id"].unique()))
    seen = user_item_matrix(train, users, items)
    user_side = OneHotEncoder(handle_unknown="ignore")
    user_side.fit(_user_attributes(train.drop_duplicates("user_id")))

    def describe(key, rows):
        index, rated = (users, seen) if key == "user_id" else (items, seen.T.tocsr())
        codes = index.get_indexer(rows.index)
        safe, known = np.maximum(codes, 0), (codes >= 0).astype(np.float64)
        parts = [sp.diags(known) @ sp.eye(len(index), format="csr")[safe]]
        shapes = [len(index)]
        if side and key == "user_id":
            parts.append(user_side.transform(_user_attributes(rows)))
            shapes += [len(categories) for categories in user_side.categories_]
        elif side:
            parts.append(sp.csr_matrix(rows[list(GENRES)].to_numpy(dtype=np.float64)))
            shapes.append(len(GENRES))
        if implicit:
            counts = np.maximum(rated.getnnz(axis=1)[safe], 1)
            parts.append(sp.diags(known / np.sqrt(counts)) @ rated[safe])
            shapes.append(rated.shape[1])
        return sp.hstack(parts, format="csr", dtype=np.float64), shapes

    blocks = []
    for frame in frames:
        frame_blocks, group_shapes = [], []
        for key in ("user_id", "item_id"):
            rows = frame.drop_duplicates(key).set_index(key).sort_index()
            data, shapes = describe(key, rows)
            frame_blocks.append(RelationBlock(rows.index.get_indexer(frame[key]), data))
            group_shapes += shapes
        blocks.append(frame_blocks)
    return blocks, group_shapes


def _user_attributes(rows: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": rows["age"].to_numpy() // 5 * 5,
            "gender": rows["gender"].astype(str).to_numpy(),
            "occupation": rows["occupation"].astype(str).to_numpy(),
        }
    )


def myfm_fit_predict(
    train: pd.DataFrame,
    test: pd.DataFrame,
    *,
    side: bool = False,
    implicit: bool = False,
    rank: int = MYFM_RANK,
    n_iter: int = 200,
    n_kept_samples: int = 195,
    random_state: int = 0,
) -> tuple[np.ndarray, float]:
    """myFM's Bayesian factorization machine (Gibbs sampling, regression) on user and item ids,
    with side features (``side``) and SVD++-like implicit feedback (``implicit``) as in myFM's
    MovieLens examples, each group of columns with its own prior (``group_shapes``).

    Not tuned: rank 10 and 200 iterations are the values of myFM's own ML-100K tutorial, and
    the first 5 samples are dropped as burn-in (myFM's default). Returns the test predictions,
    clipped to 1..5, and the fit seconds.
    """
    from myfm import MyFMRegressor

    (train_blocks, test_blocks), group_shapes = _relation_blocks(
        train, [train, test], side=side, implicit=implicit
    )
    model = MyFMRegressor(rank=rank, random_seed=random_state)
    start = time.perf_counter()
    model.fit(
        None,
        train["rating"].to_numpy(dtype=np.float64),
        X_rel=train_blocks,
        n_iter=n_iter,
        n_kept_samples=n_kept_samples,
        group_shapes=group_shapes,
    )
    fit_seconds = time.perf_counter() - start
    pred = model.predict(None, X_rel=test_blocks)
    return np.clip(pred, 1, 5), fit_seconds
