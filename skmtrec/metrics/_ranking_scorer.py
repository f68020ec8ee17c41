"""make_ranking_scorer: score a recommender's top-k lists on held-out interactions."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._pipelines import final_step
from .._prepare.targets import targets_frame
from .._serving.unseen import silenced
from ._ranking import hit_rate_at_k, map_at_k, ndcg_at_k, precision_at_k, recall_at_k

RANKING_METRICS = {
    "ndcg": ndcg_at_k,
    "recall": recall_at_k,
    "precision": precision_at_k,
    "hit_rate": hit_rate_at_k,
    "map": map_at_k,
}


class _RankingScorer:
    def __init__(self, metric, k, relevance, task):
        self.metric = metric
        self.k = k
        self.relevance = relevance
        self.task = task

    def __call__(self, estimator, X, y=None) -> float:
        lists = self.lists(estimator, X, y)
        return np.nan if lists is None else RANKING_METRICS[self.metric](*lists, k=self.k)

    def lists(self, estimator, X, y=None) -> tuple[np.ndarray, np.ndarray] | None:
        """``(y_true, y_score)`` of the metrics over the held-out users (rows) and items
        (columns): the held-out rows' relevance and the scores of each user's top k (-inf
        elsewhere); None where no held-out row is relevant. The top k of a longer list are
        the same, so one call at the largest k serves every smaller one."""
        recommender = final_step(estimator)
        user_col, item_col = recommender.user_col_, recommender.item_col_
        held_out = pd.DataFrame({"user": X[user_col].to_numpy(), "item": X[item_col].to_numpy()})
        if self.relevance is not None:
            task, threshold = self.relevance
            truth = targets_frame(y, len(X), recommender.tasks_)[task]
            fitted = recommender.fitted_tasks_[task]
            fitted.check_seen(truth[fitted.present(truth)])
            try:
                labels = truth.to_numpy(dtype=float)
            except (TypeError, ValueError):
                raise ValueError(
                    f"relevance=({task!r}, {threshold!r}) compares task {task!r}'s labels with a "
                    "threshold, but they are not numbers: choose a task with numeric labels "
                    "(a rating, a 0/1 label)."
                ) from None
            held_out = held_out[labels >= threshold]
        if held_out.empty:
            return None
        users = np.sort(held_out["user"].unique())
        # a list cut short counts its missing places as misses; held-out users may be new
        with silenced("short", "unseen"):
            recs = recommender.recommend(users, k=self.k, task=self.task)
        items = np.union1d(held_out["item"].unique(), recs[item_col].unique())
        row = pd.Index(users)
        col = pd.Index(items)
        y_true = np.zeros((len(users), len(items)), dtype=bool)
        y_true[row.get_indexer(held_out["user"]), col.get_indexer(held_out["item"])] = True
        y_score = np.full(y_true.shape, -np.inf)
        y_score[row.get_indexer(recs[user_col]), col.get_indexer(recs[item_col])] = recs[
            "score"
        ].to_numpy(dtype=float)
        return y_true, y_score

    def __repr__(self) -> str:
        return (
            f"make_ranking_scorer({self.metric!r}, k={self.k}, relevance={self.relevance!r}, "
            f"task={self.task!r})"
        )


def make_ranking_scorer(metric: str = "ndcg", k: int = 10, *, relevance=None, task=None):
    """Make a scorer of top-k recommendations on held-out interactions, for ``scoring=``.

    The held-out rows of ``X`` (user, item) are the relevant items; each of their users gets a
    top-k list from ``recommend`` (items seen in fit excluded), scored by the metric, averaged
    over users. Pair it with :class:`skmtrec.model_selection.UserHoldout`. It is what
    ``MultiTaskRecommender.score`` gives an implicit task, as ``make_ranking_scorer("ndcg", 10,
    relevance=(task, 1), task=task)``. A list cut short (a user with fewer than k items left
    after those seen) counts its missing places as misses, and a user never seen in fit (held
    out by design) gets the top k of the population's vector, both without a warning.

    Parameters
    ----------
    metric : {"ndcg", "recall", "precision", "hit_rate", "map"}, default="ndcg"
        The metric at k (see :mod:`skmtrec.metrics`).
    k : int, default=10
        Length of the lists.
    relevance : tuple of (str, float), default=None
        Count a held-out row as relevant only if its label of that task is at least the
        threshold, e.g. ``("rating", 4)``; ``None``: every held-out row is relevant.
    task : str, dict or None, default=None
        The score that ranks, as in ``recommend``.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y)`` -> float, greater is better.

    Examples
    --------
    >>> from skmtrec.metrics import make_ranking_scorer
    >>> scorer = make_ranking_scorer("ndcg", k=10, relevance=("rating", 4))
    """
    if metric not in RANKING_METRICS:
        raise ValueError(
            f"Unknown ranking metric {metric!r}; choose from {sorted(RANKING_METRICS)}."
        )
    if not (isinstance(k, int) and k >= 1):
        raise ValueError(f"k must be an int >= 1; got {k!r}.")
    return _RankingScorer(metric, k, relevance, task)
