"""Top-k ranking metrics over a users x items matrix of scores, vectorized.

Every metric takes ``y_true``, the relevance of each (user, item) as a dense or sparse
(n_users, n_items) matrix (nonzero is relevant), and ``y_score``, the model's scores of the
same shape; each user's list is the k highest-scoring items (ties broken by item order). Items a
user must not be recommended (e.g. those seen in training) should carry ``-inf``. Users with no
relevant item are left out of the mean: their metric is undefined.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp


def _check(y_true, y_score, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Relevance of the top-k items per user (n_users, k) and the count of relevant items."""
    relevance = y_true.toarray() if sp.issparse(y_true) else np.asarray(y_true)
    scores = np.asarray(y_score, dtype=np.float64)
    if relevance.ndim != 2 or relevance.shape != scores.shape:
        raise ValueError(
            f"y_true and y_score must be 2-D (n_users, n_items) of the same shape; got "
            f"{relevance.shape} and {scores.shape}."
        )
    if not (isinstance(k, (int, np.integer)) and k >= 1):
        raise ValueError(f"k must be an int >= 1; got {k!r}.")
    relevance = relevance != 0
    n_relevant = relevance.sum(axis=1)
    keep = n_relevant > 0
    relevance, scores, n_relevant = relevance[keep], scores[keep], n_relevant[keep]
    if not len(relevance):
        raise ValueError("No user has a relevant item in y_true: the metric is undefined.")
    k = min(k, scores.shape[1])
    # argpartition then sort the k best; a stable order on -score breaks ties by item index
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.lexsort((top, -np.take_along_axis(scores, top, axis=1)), axis=1)
    top = np.take_along_axis(top, order, axis=1)
    hits = np.take_along_axis(relevance, top, axis=1)
    return hits, n_relevant


def ndcg_at_k(y_true, y_score, k: int = 10) -> float:
    """Normalized discounted cumulative gain at k, binary gain.

    DCG sums ``1 / log2(rank + 1)`` over relevant items in the top k; the ideal DCG places
    ``min(n_relevant, k)`` relevant items first.

    Examples
    --------
    >>> from skmtrec.metrics import ndcg_at_k
    >>> round(ndcg_at_k([[1, 0, 1]], [[0.9, 0.8, 0.1]], k=2), 4)
    0.6131
    """
    hits, n_relevant = _check(y_true, y_score, k)
    discounts = 1.0 / np.log2(np.arange(2, hits.shape[1] + 2))
    dcg = (hits * discounts).sum(axis=1)
    ideal = np.cumsum(discounts)[np.minimum(n_relevant, hits.shape[1]) - 1]
    return float(np.mean(dcg / ideal))


def recall_at_k(y_true, y_score, k: int = 10) -> float:
    """Hits in the top k divided by ``min(n_relevant, k)``, so a perfect list scores 1."""
    hits, n_relevant = _check(y_true, y_score, k)
    return float(np.mean(hits.sum(axis=1) / np.minimum(n_relevant, hits.shape[1])))


def precision_at_k(y_true, y_score, k: int = 10) -> float:
    """Hits in the top k divided by k."""
    hits, _ = _check(y_true, y_score, k)
    return float(np.mean(hits.sum(axis=1) / hits.shape[1]))


def hit_rate_at_k(y_true, y_score, k: int = 10) -> float:
    """Share of users with at least one relevant item in their top k."""
    hits, _ = _check(y_true, y_score, k)
    return float(np.mean(hits.any(axis=1)))


def map_at_k(y_true, y_score, k: int = 10) -> float:
    """Mean average precision at k: precision at each hit's rank, summed, over
    ``min(n_relevant, k)``."""
    hits, n_relevant = _check(y_true, y_score, k)
    precision = np.cumsum(hits, axis=1) / np.arange(1, hits.shape[1] + 1)
    return float(np.mean((precision * hits).sum(axis=1) / np.minimum(n_relevant, hits.shape[1])))
