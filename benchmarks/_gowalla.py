"""Protocol R5 of BENCHMARKS.md: full ranking on Gowalla (the LightGCN split), for the peers.

Every peer is tuned on a validation split of the training file (``validation_split``: 20% of each
user's training items held out, seed 0), by Recall@20 on it, then refitted with the chosen
setting on the whole training file and scored on the test file: for every test user, every item
not in that user's training items is ranked, and Recall@20 and NDCG@20 are those of LightGCN and
BARS (``recall_ndcg_at_k``). The peers: implicit's ALS and BPR, ``_peers.ItemKNN`` and EASE.

EASE on 40,981 items needs the inverse of a 40,981 x 40,981 matrix: ``_peers.Ease`` inverts it
in float64 with ``np.linalg.inv`` (13.4 GB for the matrix, about three times that at the peak),
which does not fit a 24 GB machine, and every item has a training interaction, so dropping the
items without one saves nothing. ``GowallaEase`` is the same model with the inverse taken in
place in float32 by a Cholesky factorization (``ease_weights``): 6.7 GB.

``r5_peer_rows`` gives the peers' rows and ``r5_table`` the markdown table, with any further
rows of the same keys (``R5_KEYS``), such as skmtrec's, and the published rows below them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from _common import machine
from _peers import KNN_GRID, Ease, ItemKNN, user_item_matrix
from scipy.linalg import lapack
from sklearn.utils import Bunch
from threadpoolctl import threadpool_limits

from skmtrec.datasets import load_gowalla

K = 20
# threads of implicit's models and of BLAS for every peer (1 while trying things)
IMPLICIT_THREADS = 2
VALIDATION_FRACTION = 0.2
FACTORS = 64
# (regularization, alpha) of implicit's ALS, 15 iterations (how the grid was set: the README's
# "How each peer is tuned")
ALS_GRID = tuple((reg, alpha) for reg in (1.0, 10.0) for alpha in (10.0, 40.0, 100.0, 200.0))
ALS_ITERATIONS = 15
# (learning_rate, regularization) of implicit's BPR, 100 iterations
BPR_GRID = tuple((rate, reg) for rate in (0.01, 0.05) for reg in (0.001, 0.01))
BPR_ITERATIONS = 100
EASE_GRID = (100, 250, 500, 1000)
# the keys of a row of ``r5_table``
R5_KEYS = ("model", "setting", "tuned", "recall", "ndcg", "fit_s", "rec_s")
# the README's table of the split (data/gowalla/README.md): model, Recall@20, NDCG@20, source
PUBLISHED = (
    ("ItemCF", 0.1570, 0.1214, "BARS rerun"),
    ("MF-BPR", 0.1627, 0.1378, "BARS rerun"),
    ("Mult-VAE", 0.1641, 0.1335, "LightGCN paper"),
    ("SLIM", 0.1699, 0.1382, "BARS rerun"),
    ("YoutubeDNN (two towers, sampled softmax)", 0.1754, 0.1473, "BARS rerun"),
    ("EASE^R", 0.1765, 0.1467, "BARS rerun"),
    ("LightGCN", 0.1820, 0.1547, "BARS / LightGCN README (0.1824 / 0.1547)"),
    ("SimpleX", 0.1872, 0.1557, "BARS rerun"),
    ("UltraGCN", 0.1862, 0.1580, "BARS rerun"),
)


def validation_split(
    train: pd.DataFrame, fraction: float = VALIDATION_FRACTION, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hold out part of each user's training items, for tuning.

    Parameters
    ----------
    train : DataFrame
        Interactions with the columns ``user_id`` and ``item_id``.
    fraction : float, default=0.2
        Share of each user's rows held out, rounded half up, and at least one. Users with a
        single row keep it.
    seed : int, default=0
        Seed of the random order in which each user's rows are drawn.

    Returns
    -------
    fit_part, valid_part : DataFrame
        The rows kept for fitting and the held-out rows, each in ``train``'s order.
    """
    user = train["user_id"].to_numpy()
    order = np.lexsort((np.random.default_rng(seed).random(len(train)), user))
    _, first, count = np.unique(user[order], return_index=True, return_counts=True)
    # each row's place in its user's random order, and the user's number of held-out rows
    place = np.empty(len(train), dtype=np.int64)
    place[order] = np.arange(len(train)) - np.repeat(first, count)
    held = np.where(count >= 2, np.maximum(1, np.floor(fraction * count + 0.5)), 0)
    out = np.empty(len(train), dtype=bool)
    out[order] = place[order] < np.repeat(held, count)
    return train[~out], train[out]


def recall_ndcg_at_k(top: np.ndarray, test: pd.DataFrame, users: np.ndarray) -> dict[str, float]:
    """Recall@k and NDCG@k as LightGCN and BARS define them.

    Recall is the number of hits in a user's top k over the number of their test items; NDCG
    has binary gain and the ideal DCG of min(number of test items, k) hits. Both are averaged
    over the users of ``users`` that have a test item.

    Parameters
    ----------
    top : ndarray of shape (n_users, k)
        Each user's ranked item ids, best first; -1 pads a short list.
    test : DataFrame
        The relevant interactions, with the columns ``user_id`` and ``item_id``.
    users : ndarray of shape (n_users,)
        The user id of each row of ``top``, each once. Every user of ``test`` must be there.

    Returns
    -------
    dict
        ``recall``, ``ndcg`` and ``users``, the number of users averaged over.
    """
    top = np.asarray(top, dtype=np.int64)
    k = top.shape[1]
    index = pd.Index(np.asarray(users))
    if not index.is_unique:
        raise ValueError("users must be unique")
    test = test.drop_duplicates(["user_id", "item_id"])
    rows = index.get_indexer(test["user_id"])
    if (rows < 0).any():
        raise ValueError("every user of test needs a row of top")
    # a (row, item) pair as one integer, to look every top-k entry up at once
    n_items = int(max(top.max(initial=-1), test["item_id"].max())) + 1
    relevant = rows.astype(np.int64) * n_items + test["item_id"].to_numpy(dtype=np.int64)
    ranked = np.arange(len(index), dtype=np.int64)[:, None] * n_items + top
    hits = np.isin(ranked, relevant) & (top >= 0)
    n_test = np.bincount(rows, minlength=len(index))
    scored = n_test > 0
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = np.cumsum(discount)[np.minimum(n_test[scored], k) - 1]
    return {
        "recall": float(np.mean(hits[scored].sum(axis=1) / n_test[scored])),
        "ndcg": float(np.mean(hits[scored] @ discount / ideal)),
        "users": int(scored.sum()),
    }


def topk_from_scores_blocks(
    score_block_fn: Callable[[np.ndarray], np.ndarray],
    n_users: int,
    train_csr: sp.csr_matrix,
    k: int = K,
    block: int = 2048,
) -> np.ndarray:
    """Each user's ``k`` best items not among their training items, from dense scores.

    Parameters
    ----------
    score_block_fn : callable
        Given an array of user rows (positions in ``0..n_users-1``), returns their dense
        scores, an array of shape (len(rows), n_items) that it may give up to be overwritten.
    n_users : int
        The number of users, ranked ``block`` at a time.
    train_csr : sparse matrix of shape (n_users, n_items)
        Each user's training items (any stored entry), which are never recommended.
    k : int, default=20
        The length of each list.
    block : int, default=2048
        Users scored at a time: the dense scores take ``block * n_items`` floats.

    Returns
    -------
    ndarray of shape (n_users, k)
        Item positions (columns of the scores), best first; -1 where a user has fewer than
        ``k`` items left to rank.
    """
    train_csr = sp.csr_matrix(train_csr)
    top = np.empty((n_users, k), dtype=np.int64)
    for start in range(0, n_users, block):
        stop = min(start + block, n_users)
        scores = np.asarray(score_block_fn(np.arange(start, stop)))
        seen = train_csr[start:stop]
        scores[np.repeat(np.arange(stop - start), np.diff(seen.indptr)), seen.indices] = -np.inf
        best = np.argpartition(scores, -k, axis=1)[:, -k:]
        best_scores = np.take_along_axis(scores, best, axis=1)
        order = np.argsort(-best_scores, axis=1, kind="stable")
        best = np.take_along_axis(best, order, axis=1)
        best[np.take_along_axis(best_scores, order, axis=1) == -np.inf] = -1
        top[start:stop] = best
    return top


def ease_weights(gram: np.ndarray, lam: float, block: int = 2048) -> np.ndarray:
    """EASE's item-item weights from the Gram matrix X^T X, computed in place.

    B = -P / diag(P) (column j divided by -P_jj) with P = (X^T X + lam I)^-1 and a zero
    diagonal, as in ``_peers.Ease``; P comes from a Cholesky factorization and its inverse
    (LAPACK's ``potrf`` and ``potri``) in ``gram``'s own memory, so that the peak is one matrix.

    Parameters
    ----------
    gram : ndarray of shape (n_items, n_items)
        X^T X, symmetric and C-contiguous; overwritten by B.
    lam : float
        The L2 penalty added to the diagonal.
    block : int, default=2048
        Rows at a time when the inverse's triangle is mirrored.

    Returns
    -------
    ndarray of shape (n_items, n_items)
        B, in ``gram``'s memory.
    """
    if not gram.flags.c_contiguous or gram.dtype.char not in "fd":
        raise ValueError("gram must be a C-contiguous float32 or float64 array")
    n = len(gram)
    gram[np.diag_indices(n)] += lam
    potrf, potri = lapack.get_lapack_funcs(("potrf", "potri"), (gram,))
    # one thread: scipy's OpenBLAS, threaded, crashed (segfault) in these calls at 40,981 items
    with threadpool_limits(limits=1, user_api="blas"):
        # gram.T is the same symmetric matrix in Fortran order, which LAPACK overwrites in
        # place; its upper triangle is gram's lower one
        factor, info = potrf(gram.T, lower=False, overwrite_a=True, clean=False)
        if info != 0 or not np.shares_memory(factor, gram):
            raise RuntimeError(f"Cholesky factorization failed in place (info {info})")
        inverse, info = potri(factor, lower=False, overwrite_c=True)
    if info != 0 or not np.shares_memory(inverse, gram):
        raise RuntimeError(f"inverse failed in place (info {info})")
    # the inverse is in gram's lower triangle: mirror it into the upper one
    for start in range(0, n, block):
        stop = min(start + block, n)
        gram[start:stop, stop:] = gram[stop:, start:stop].T
        tile = gram[start:stop, start:stop]
        upper = np.triu_indices(stop - start, 1)
        tile[upper] = tile.T[upper]
    gram /= -np.diag(gram).copy()
    np.fill_diagonal(gram, 0.0)
    return gram


class _Scored:
    """Top-k lists of a ``_peers`` ranker from its dense scores (``topk_from_scores_blocks``)."""

    def scores(self, codes: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def top(self, users: np.ndarray, k: int = K) -> np.ndarray:
        """Each user's ``k`` best item ids not among their fitting items, best first.

        Parameters
        ----------
        users : ndarray of shape (n_users,)
            User ids, each with fitting rows.
        k : int, default=20
            The length of each list.

        Returns
        -------
        ndarray of shape (n_users, k)
            Item ids; -1 pads a short list.
        """
        codes = self.users_.get_indexer(np.asarray(users))
        if (codes < 0).any():
            raise ValueError("every user needs fitting rows")
        top = topk_from_scores_blocks(
            lambda rows: self.scores(codes[rows]), len(codes), self.seen_[codes], k
        )
        return np.where(top >= 0, self.items_.to_numpy()[np.maximum(top, 0)], -1)


class GowallaEase(_Scored, Ease):
    """``_peers.Ease`` on every interaction, with the weights from ``ease_weights`` in float32.

    Parameters
    ----------
    lam : float, default=300.0
        The L2 penalty.
    """

    def __init__(self, lam: float = 300.0):
        super().__init__(lam)

    def _fit(self, train):
        self._B = None  # a refit frees the old weights before it builds the new ones
        self._X = user_item_matrix(train, self.users_, self.items_)
        # C order straight away: X^T X comes out CSC, whose default dense order is Fortran
        gram = (self._X.T @ self._X).toarray(order="C")
        self._B = ease_weights(gram, self.lam)

    def scores(self, codes):
        """Dense scores of users (rows of the fitting matrix): their rows of X times B."""
        return self._X[codes] @ self._B


class GowallaItemKNN(_Scored, ItemKNN):
    """``_peers.ItemKNN``, scored through its similarity matrix (``_Scored``)."""

    def _fit(self, train):
        super()._fit(train)
        self._similarity = self._model.similarity.astype(np.float32)

    def scores(self, codes):
        """Dense scores of users: their fitting items times the item-item similarities, as
        implicit's ``recommend`` scores them."""
        return (self.seen_[codes] @ self._similarity).toarray()


class ImplicitFactors:
    """One of implicit's factor models on the binary users x items matrix of the id range,
    with ``FACTORS`` factors, on the CPU.

    Parameters
    ----------
    model : class
        implicit's model class (``AlternatingLeastSquares``, ``BayesianPersonalizedRanking``).
    n_users, n_items : int
        The id ranges: ids are rows and columns of the matrix.
    random_state : int, default=0
        The factors' initial seed.
    **settings
        The model's other settings (``num_threads`` among them).
    """

    def __init__(self, model, n_users: int, n_items: int, random_state: int = 0, **settings):
        self.model = model
        self.n_users, self.n_items = n_users, n_items
        self.random_state = random_state
        self.settings = settings

    def fit(self, train: pd.DataFrame) -> ImplicitFactors:
        """Fit on the interactions of ``train`` (``user_id``, ``item_id``); times the fit."""
        self.model_ = None
        self.user_items_ = user_item_matrix(
            train, pd.RangeIndex(self.n_users), pd.RangeIndex(self.n_items)
        )
        self.model_ = self.model(
            factors=FACTORS, use_gpu=False, random_state=self.random_state, **self.settings
        )
        start = time.perf_counter()
        self.model_.fit(self.user_items_, show_progress=False)
        self.fit_seconds_ = time.perf_counter() - start
        return self

    def top(self, users: np.ndarray, k: int = K) -> np.ndarray:
        """Each user's ``k`` best item ids not among their fitting items, best first, by
        implicit's ``recommend`` for all of them at once."""
        users = np.asarray(users)
        ids, _ = self.model_.recommend(
            users, self.user_items_[users], N=k, filter_already_liked_items=True
        )
        return ids


def choose_r5(
    make: Callable[[Any], Any],
    grid: Iterable,
    fit_part: pd.DataFrame,
    valid_part: pd.DataFrame,
    *,
    name: str = "",
) -> tuple[Any, dict[Any, dict[str, float]]]:
    """The value of ``grid`` whose ``make(value)``, fitted on ``fit_part``, has the best
    Recall@20 on ``valid_part`` (R5's ``choose_on_validation``).

    Parameters
    ----------
    make : callable
        Returns an unfitted peer (with ``fit(frame)`` and ``top(users, k)``) for a value.
    grid : iterable
        The values tried.
    fit_part, valid_part : DataFrame
        From ``validation_split``: every item not in a user's fitting rows is ranked.
    name : str, default=""
        Printed beside each value's figures.

    Returns
    -------
    chosen : object
        The value with the best validation Recall@20.
    validation : dict
        Each value's ``recall_ndcg_at_k`` on ``valid_part``.
    """
    users = np.sort(valid_part["user_id"].unique())
    validation = {}
    for value in grid:
        model = make(value).fit(fit_part)
        validation[value] = recall_ndcg_at_k(model.top(users), valid_part, users)
        print(
            f"R5 validation {name} {value}: Recall@{K} {validation[value]['recall']:.4f}, "
            f"NDCG@{K} {validation[value]['ndcg']:.4f}, fit {model.fit_seconds_:.1f} s",
            flush=True,
        )
        del model  # the next value's fit must not hold two models (EASE's is 6.7 GB)
    return max(validation, key=lambda value: validation[value]["recall"]), validation


def id_ranges(data: Bunch) -> tuple[int, int]:
    """The user and item id ranges of Gowalla's train and test files (ids run from 0)."""
    train, test = data.train, data.test
    n_users = int(max(train["user_id"].max(), test["user_id"].max())) + 1
    n_items = int(max(train["item_id"].max(), test["item_id"].max())) + 1
    return n_users, n_items


def r5_peer_rows(
    data: Bunch | None = None, *, threads: int | None = None, ease_grid: Iterable = EASE_GRID
) -> list[dict]:
    """Tune, refit and score every R5 peer on Gowalla.

    Parameters
    ----------
    data : Bunch, default=None
        ``train`` and ``test`` frames; ``load_gowalla()`` if None.
    threads : int, default=None
        Threads of implicit's models and of BLAS; ``IMPLICIT_THREADS`` if None.
    ease_grid : iterable of float, default=EASE_GRID
        EASE's penalties tried; empty leaves EASE out (each one is an inverse of the
        40,981 x 40,981 Gram matrix: minutes).

    Returns
    -------
    list of dict
        One row per peer with the keys ``R5_KEYS``: ``setting`` is the chosen value, ``tuned``
        how, ``recall`` and ``ndcg`` the test figures, ``fit_s`` the refit's seconds, ``rec_s``
        the seconds of the top-20 of every training user; and ``validation``, each value's
        figures on the validation split.
    """
    from implicit.als import AlternatingLeastSquares
    from implicit.bpr import BayesianPersonalizedRanking

    data = load_gowalla() if data is None else data
    threads = IMPLICIT_THREADS if threads is None else threads
    train, test = data.train, data.test
    n_users, n_items = id_ranges(data)
    split = validation_split(train)

    def als(value):
        reg, alpha = value
        return ImplicitFactors(
            AlternatingLeastSquares, n_users, n_items, regularization=reg, alpha=alpha,
            iterations=ALS_ITERATIONS, num_threads=threads,
        )  # fmt: skip

    def bpr(value):
        rate, reg = value
        return ImplicitFactors(
            BayesianPersonalizedRanking, n_users, n_items, learning_rate=rate,
            regularization=reg, iterations=BPR_ITERATIONS, num_threads=threads,
        )  # fmt: skip

    peers = (
        (
            f"implicit ALS ({FACTORS} factors, {ALS_ITERATIONS} iterations)",
            als,
            ALS_GRID,
            "regularization {}, alpha {}",
        ),
        (
            f"implicit BPR ({FACTORS} factors, {BPR_ITERATIONS} iterations)",
            bpr,
            BPR_GRID,
            "learning rate {}, regularization {}",
        ),
        (
            "item-kNN (implicit)",
            lambda value: GowallaItemKNN(value[1], weighting=value[0], threads=threads),
            KNN_GRID,
            "{}, {} neighbours",
        ),
        ("EASE (float32 Cholesky inverse)", GowallaEase, tuple(ease_grid), "lambda {}"),
    )
    users = np.sort(train["user_id"].unique())
    rows = []
    with threadpool_limits(limits=threads):
        for name, make, grid, setting in peers:
            grid = tuple(grid)
            if not grid:
                continue
            chosen, validation = choose_r5(make, grid, *split, name=name)
            model = make(chosen).fit(train)
            start = time.perf_counter()
            top = model.top(users)
            rec_s = time.perf_counter() - start
            fit_s = model.fit_seconds_
            del model
            tested = np.isin(users, test["user_id"].unique())
            best = validation[chosen]
            row = {
                "model": name,
                "setting": setting.format(*(chosen if isinstance(chosen, tuple) else [chosen])),
                "tuned": f"best validation Recall@{K} of {len(grid)} settings "
                f"({best['recall']:.4f}; NDCG@{K} {best['ndcg']:.4f})",
                **recall_ndcg_at_k(top[tested], test, users[tested]),
                "fit_s": fit_s,
                "rec_s": rec_s,
                "validation": validation,
            }
            rows.append(row)
            print(f"R5 test {name} ({row['setting']}): {row}", flush=True)
    return rows


def skmtrec_scored(fit_part: pd.DataFrame, scored_part: pd.DataFrame, **params) -> dict:
    """Fit skmtrec with the implicit task given and ``params`` on ``fit_part``; the top-20 of
    every user of ``fit_part`` by ``recommend``, scored on ``scored_part`` as the peers are.

    Returns
    -------
    dict
        ``recall``, ``ndcg`` and ``users`` (``recall_ndcg_at_k``), ``fit_s``, ``rec_s`` and
        ``epochs`` (the epochs trained); ``model``, the fitted estimator.
    """
    from skmtrec import MultiTaskRecommender

    model = MultiTaskRecommender({"interacted": "implicit"}, **{"random_state": 0, **params})
    start = time.perf_counter()
    model.fit(fit_part[["user_id", "item_id"]])
    fit_s = time.perf_counter() - start
    users = np.sort(fit_part["user_id"].unique())
    start = time.perf_counter()
    recs = model.recommend(users, k=K)
    rec_s = time.perf_counter() - start
    top = recs["item_id"].to_numpy().reshape(len(users), K)
    scored = np.isin(users, scored_part["user_id"].unique())
    return {
        **recall_ndcg_at_k(top[scored], scored_part, users[scored]),
        "fit_s": fit_s,
        "rec_s": rec_s,
        "epochs": len(model.net_.history),
        "model": model,
    }


def skmtrec_r5_row(data: Bunch | None = None) -> dict:
    """skmtrec at its defaults on R5 (the implicit task given, nothing tuned): fitted on the
    whole training file and scored on the test file as the peers are.

    Returns
    -------
    dict
        A row with the keys ``R5_KEYS``; ``epochs`` the epochs trained.
    """
    data = load_gowalla() if data is None else data
    result = skmtrec_scored(data.train, data.test)
    model = result.pop("model")
    row = {
        "model": "skmtrec (defaults: retrieval task, cosine sampled softmax, graph filter)",
        "setting": f"defaults; {model.network_spec_['tasks'][0]['softmax_items']} negatives "
        f"per batch, graph weight {model.graph_weight}",
        "tuned": "not tuned (defaults chosen on validation splits of MovieLens and Gowalla)",
        **result,
    }
    print(f"R5 test skmtrec: {row}", flush=True)
    return row


def validate_gowalla(configs: dict[str, dict]) -> str:
    """skmtrec's configurations on R5's validation split (``validation_split``), never on the
    test file: each is the implicit task given and the configuration's parameters.

    Returns
    -------
    str
        A markdown table: Recall@20, NDCG@20, fit seconds and epochs per configuration.
    """
    fit_part, valid_part = validation_split(load_gowalla().train)
    lines = [
        f"Gowalla validation: {VALIDATION_FRACTION:.0%} of each user's training items held out "
        f"(seed 0). {machine()}.",
        "",
        f"| configuration | Recall@{K} | NDCG@{K} | fit seconds | epochs |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, params in configs.items():
        result = skmtrec_scored(fit_part, valid_part, **params)
        lines.append(
            f"| {name} | {result['recall']:.4f} | {result['ndcg']:.4f} | "
            f"{result['fit_s']:.1f} | {result['epochs']} |"
        )
        print(lines[-1], flush=True)
    return "\n".join(lines)


def r5_table(rows: Iterable[dict], *, threads: int | None = None) -> str:
    """The R5 markdown table: ``rows`` (the peers', and any others with the keys ``R5_KEYS``,
    such as skmtrec's), then the published rows for context.

    Parameters
    ----------
    rows : iterable of dict
        Rows with the keys ``R5_KEYS``; ``fit_s`` and ``rec_s`` may be NaN (shown as "-").
    threads : int, default=None
        The threads the rows ran with, for the caption; ``IMPLICIT_THREADS`` if None.

    Returns
    -------
    str
        The caption and the table.
    """
    threads = IMPLICIT_THREADS if threads is None else threads

    def seconds(value):
        return "-" if value is None or np.isnan(value) else f"{value:.2f}"

    lines = [
        f"Gowalla, the LightGCN split (R5): for each of the 29,858 test users, every item not in "
        f"their training items ranked; Recall@{K} and NDCG@{K} as LightGCN and BARS define them. "
        f"Tuned: best Recall@{K} on a validation split of train.txt ({VALIDATION_FRACTION:.0%} of "
        f"each user's training items held out, seed 0), then refitted on all of train.txt; fit "
        f"seconds: the refit; recommend seconds: the top-{K} of every user, once. "
        f"{threads} thread(s) for implicit and BLAS (EASE's inverse: 1); {machine()}. "
        "Published rows below: "
        "embedding size 64 where the model has one.",
        "",
        f"| model | setting | tuned | Recall@{K} | NDCG@{K} | fit seconds | recommend seconds |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        lines.append(
            f"| {row['model']} | {row['setting']} | {row['tuned']} | {row['recall']:.4f} | "
            f"{row['ndcg']:.4f} | {seconds(row['fit_s'])} | {seconds(row['rec_s'])} |"
        )
    for model, recall, ndcg, source in PUBLISHED:
        lines.append(f"| {model} | - | published ({source}) | {recall:.4f} | {ndcg:.4f} | - | - |")
    return "\n".join(lines)
