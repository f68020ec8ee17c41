"""Ranking metrics on hand-computed cases, and against scikit-learn's ndcg_score."""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.metrics import ndcg_score

from skmtrec.metrics import hit_rate_at_k, map_at_k, ndcg_at_k, precision_at_k, recall_at_k

# user 0: relevant items 0 and 3; ranking 3, 1, 0, 2 -> hits at ranks 1 and 3
# user 1: relevant item 2;        ranking 0, 1, 3, 2 -> no hit in the top 3
# user 2: no relevant item        -> left out of every mean
Y_TRUE = np.array([[1, 0, 0, 1], [0, 0, 1, 0], [0, 0, 0, 0]])
Y_SCORE = np.array([[0.5, 0.7, 0.1, 0.9], [0.9, 0.8, 0.1, 0.3], [0.1, 0.2, 0.3, 0.4]])


def test_hand_computed_values_at_3():
    dcg0 = 1 + 1 / np.log2(4)
    ideal0 = 1 + 1 / np.log2(3)
    assert ndcg_at_k(Y_TRUE, Y_SCORE, k=3) == pytest.approx((dcg0 / ideal0 + 0) / 2)
    assert recall_at_k(Y_TRUE, Y_SCORE, k=3) == pytest.approx((2 / 2 + 0) / 2)
    assert precision_at_k(Y_TRUE, Y_SCORE, k=3) == pytest.approx((2 / 3 + 0) / 2)
    assert hit_rate_at_k(Y_TRUE, Y_SCORE, k=3) == pytest.approx(0.5)
    assert map_at_k(Y_TRUE, Y_SCORE, k=3) == pytest.approx(((1 / 1 + 2 / 3) / 2 + 0) / 2)


def test_recall_divides_by_min_of_relevant_and_k():
    y_true = np.array([[1, 1, 1, 1, 0]])
    y_score = np.array([[5.0, 4, 0, 0, 3]])
    assert recall_at_k(y_true, y_score, k=2) == 1.0  # 2 hits out of min(4, 2)
    assert recall_at_k(y_true, y_score, k=3) == pytest.approx(2 / 3)


def test_excluded_items_and_ties():
    y_true = np.array([[0, 1, 1]])
    y_score = np.array([[-np.inf, 1.0, 1.0]])
    # ties go to the lower item index; -inf is ranked last
    assert precision_at_k(y_true, y_score, k=1) == 1.0
    assert ndcg_at_k(y_true, np.array([[np.inf, -np.inf, 0.0]]), k=1) == 0.0


def test_ndcg_matches_scikit_learn_and_sparse_input():
    rng = np.random.RandomState(0)
    y_true = (rng.rand(50, 40) < 0.1).astype(int)
    y_true[:, 0] = 1  # every user has a relevant item, as sklearn averages over all
    y_score = rng.rand(50, 40)
    for k in (1, 5, 10, 40):
        assert ndcg_at_k(y_true, y_score, k=k) == pytest.approx(ndcg_score(y_true, y_score, k=k))
    assert ndcg_at_k(sp.csr_matrix(y_true), y_score, k=10) == ndcg_at_k(y_true, y_score, k=10)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="same shape"):
        ndcg_at_k(Y_TRUE, Y_SCORE[:, :2])
    with pytest.raises(ValueError, match="k must be an int >= 1"):
        recall_at_k(Y_TRUE, Y_SCORE, k=0)
    with pytest.raises(ValueError, match="No user has a relevant item"):
        map_at_k(np.zeros((2, 3)), np.zeros((2, 3)))
