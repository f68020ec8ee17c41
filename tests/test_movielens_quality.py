"""Quality on real data: the defaults on MovieLens 100K, u1.base -> u1.test (R1 and R2)."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import root_mean_squared_error

from skmtrec import MultiTaskRecommender
from skmtrec.metrics import ndcg_at_k

from .conftest import movielens_xy


@pytest.mark.slow
def test_defaults_rate_and_rank_u1_as_the_best_peers(movielens):
    """One model with no argument but its tasks. Peers in the same protocols
    (``../shared/BENCHMARKS.md``): myFM with ids rates at RMSE 0.907, EASE with a validated
    lambda ranks at NDCG@10 0.444 (benchmarks/results); the bounds leave a margin for noise."""
    X_train, y_train = movielens_xy(movielens.train)
    X_test, y_test = movielens_xy(movielens.test)
    model = MultiTaskRecommender(
        tasks={"rating": "regression", "interacted": "implicit"}, random_state=0
    ).fit(X_train, y_train[["rating"]])

    rating = np.clip(model.predict_tasks(X_test)["rating"], 1, 5)
    rmse = root_mean_squared_error(y_test["rating"], rating)
    assert rmse < 0.905, rmse

    # R2: relevant = a test rating >= 4; every item of the data set is a candidate
    test = movielens.test
    relevant = test[test["rating"] >= 4]
    users = pd.Index(np.sort(relevant["user_id"].unique()))
    items = pd.Index(np.sort(movielens.ratings["item_id"].unique()))
    y_true = np.zeros((len(users), len(items)))
    y_true[users.get_indexer(relevant["user_id"]), items.get_indexer(relevant["item_id"])] = 1
    top = model.recommend(users.to_numpy(), k=10)
    y_score = np.full(y_true.shape, -np.inf)
    y_score[users.get_indexer(top["user_id"]), items.get_indexer(top["item_id"])] = -top["rank"]
    ndcg = ndcg_at_k(y_true, y_score, k=10)
    assert ndcg > 0.43, ndcg
