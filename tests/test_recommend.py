"""Recommending: implicit feedback, top-k lists, similar items, ranking scorers."""

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import GridSearchCV

from skmtrec import MultiTaskRecommender
from skmtrec.metrics import make_ranking_scorer
from skmtrec.model_selection import UserHoldout

N = 50


@pytest.fixture(scope="module")
def checkerboard():
    """Users and items of two parities; each user has every item of its parity but its own."""
    rows = [(u, i) for u in range(N) for i in range(N) if u % 2 == i % 2 and u != i]
    X = pd.DataFrame(rows, columns=["user_id", "item_id"])
    # five batches an epoch: early stopping would end training on the plateau before the
    # parity is learned (it did at epoch 6 to 11, by the seed), so it is off
    model = MultiTaskRecommender(
        tasks={"interacted": "implicit"},
        max_epochs=30,
        batch_size=256,
        patience=None,
        random_state=0,
    )
    return X, model.fit(X)


def test_withheld_items_rank_first(checkerboard):
    _, model = checkerboard
    recs = model.recommend(np.arange(N), k=1)
    np.testing.assert_array_equal(recs["item_id"].to_numpy(), np.arange(N))


def test_recommend_lists_exclude_seen_items(checkerboard):
    X, model = checkerboard
    recs = model.recommend([0, 1, 2], k=5)
    assert list(recs.columns) == ["user_id", "rank", "item_id", "score"]
    assert recs.groupby("user_id")["rank"].apply(list).tolist() == [[1, 2, 3, 4, 5]] * 3
    assert (
        recs["user_id"].dtype == X["user_id"].dtype and recs["item_id"].dtype == X["item_id"].dtype
    )
    assert (recs.groupby("user_id")["score"].diff().dropna() <= 0).all()
    seen = set(map(tuple, X.to_numpy()))
    assert not any((u, i) in seen for u, i in recs[["user_id", "item_id"]].to_numpy())
    with_seen = model.recommend([0], k=N, exclude_seen=False)
    assert len(with_seen) == N and set(with_seen["item_id"]) == set(range(N))


def test_k_beyond_the_unseen_items_gives_fewer_rows_never_a_seen_one(checkerboard):
    X, model = checkerboard
    recs = model.recommend([0, 1], k=N + 10)
    # each user has seen every item of its parity but itself: N // 2 + 1 unseen items
    assert recs.groupby("user_id").size().tolist() == [N // 2 + 1] * 2
    assert recs.groupby("user_id")["rank"].max().tolist() == [N // 2 + 1] * 2
    assert np.isfinite(recs["score"]).all()
    seen = set(map(tuple, X.to_numpy()))
    assert not any((u, i) in seen for u, i in recs[["user_id", "item_id"]].to_numpy())


@pytest.mark.parametrize("k", [0, -1, True, 2.0, "3", None])
def test_k_must_be_a_positive_int(checkerboard, k):
    _, model = checkerboard
    for method in (model.recommend, model.similar_items):
        with pytest.raises(ValueError, match=f"k must be a positive int; got {k!r}"):
            method([0], k=k)


def test_missing_user_ids_and_an_empty_candidate_table_are_refused(checkerboard):
    _, model = checkerboard
    for users, shown in (([0, np.nan], "nan at position 1"), ([None], "None at position 0")):
        with pytest.raises(ValueError, match=f"The user ids include a missing value \\({shown}"):
            model.recommend(users)
    empty = pd.DataFrame({"item_id": pd.Series([], dtype=int)})
    with pytest.raises(ValueError, match="The item table is empty"):
        model.recommend([0], items=empty)
    with pytest.raises(ValueError, match="The item ids include a missing value"):
        model.similar_items([np.nan])


def test_an_item_is_never_its_own_neighbour(checkerboard):
    _, model = checkerboard
    similar = model.similar_items([0, 1], k=N + 5)
    assert similar.groupby("item_id").size().tolist() == [N - 1] * 2
    assert (similar["item_id"] != similar["similar_item_id"]).all()
    assert np.isfinite(similar["similarity"]).all()


def test_similar_items_share_the_parity(checkerboard):
    _, model = checkerboard
    similar = model.similar_items([0, 1], k=5)
    assert list(similar.columns) == ["item_id", "rank", "similar_item_id", "similarity"]
    assert 0 not in similar.loc[similar["item_id"] == 0, "similar_item_id"].to_numpy()
    assert (similar["item_id"] % 2 == similar["similar_item_id"] % 2).all()


def test_implicit_task_predicts_interaction_probability(checkerboard):
    _, model = checkerboard
    pairs = pd.DataFrame({"user_id": [0, 0], "item_id": [2, 3]})  # same parity, other parity
    proba = model.predict_proba(pairs)[:, 1]
    assert proba[0] > 10 * proba[1]


@pytest.fixture(scope="module")
def with_features(interactions):
    X, y = interactions
    model = MultiTaskRecommender(
        tasks={
            "rating": "regression",
            "like": "binary",
            "category": "multiclass",
            "interacted": "implicit",
        },
        max_epochs=10,
        random_state=0,
    ).fit(X, y)
    return X, model


def test_new_users_get_population_or_feature_based_lists(with_features):
    _, model = with_features
    population = model.recommend([-1, -2], k=5)
    assert len(population) == 10
    np.testing.assert_array_equal(population["item_id"][:5], population["item_id"][5:])
    users = pd.DataFrame(
        {"user_id": [-1, -2], "user_age": [18, 70], "user_segment": ["student", "retired"]}
    )
    by_features = model.recommend(users, k=20)
    lists = by_features.groupby("user_id")["item_id"].apply(list)
    assert lists[-1] != lists[-2]


def test_new_items_are_ranked_from_their_features(with_features):
    X, model = with_features
    items = pd.DataFrame({"item_id": [10_001, 10_002, int(X["item_id"].iloc[0])]})
    recs = model.recommend([int(X["user_id"].iloc[0])], k=3, items=items, exclude_seen=False)
    assert set(recs["item_id"]) == set(items["item_id"])


def test_ranking_task_choice_and_blends(with_features):
    _, model = with_features
    by_rating = model.recommend([0], k=3, task="rating")
    assert by_rating["score"].between(0, 6).all()  # predicted ratings, in y units
    blended = model.recommend([0], k=3, task={"interacted": 1.0, "like": 1.0})
    assert blended["score"].between(0, 2).all()  # a sum of two probabilities
    with pytest.raises(ValueError, match="Task 'category' is multiclass"):
        model.recommend([0], task="category")
    with pytest.raises(ValueError, match="task='clicks' is not a task"):
        model.recommend([0], task="clicks")
    with pytest.raises(ValueError, match="k must be a positive int"):
        model.recommend([0], k=0)
    for weight in (np.nan, -1.0, np.inf, "1"):
        with pytest.raises(ValueError, match="weight of task 'like' in the `task` blend must be"):
            model.recommend([0], task={"interacted": 1.0, "like": weight})
    with pytest.raises(ValueError, match="needs at least one weight > 0"):
        model.recommend([0], task={"interacted": 0.0})


def test_recommend_needs_ids_and_survives_pickling(with_features, interactions):
    X, model = with_features
    restored = pickle.loads(pickle.dumps(model))
    pd.testing.assert_frame_equal(restored.recommend([0, 1]), model.recommend([0, 1]))
    no_ids = MultiTaskRecommender(tasks={"rating": "regression"}, user_col=None, max_epochs=1)
    no_ids.fit(X.drop(columns="user_id"), interactions[1]["rating"])
    with pytest.raises(ValueError, match="recommend needs user and item ids"):
        no_ids.recommend([0])
    with pytest.raises(ValueError, match="'interacted' is 'implicit': ranking items needs"):
        MultiTaskRecommender(tasks={"interacted": "implicit"}, item_col=None).fit(X)


def test_grid_search_with_a_ranking_scorer_and_user_holdout(interactions):
    X, y = interactions
    search = GridSearchCV(
        MultiTaskRecommender(
            tasks={"rating": "regression", "interacted": "implicit"}, max_epochs=4, random_state=0
        ),
        {"negative_ratio": [1, 4]},
        scoring=make_ranking_scorer("ndcg", k=10),
        cv=UserHoldout(0.2, n_splits=2, random_state=0),
    )
    search.fit(X, y[["rating"]])
    scores = search.cv_results_["mean_test_score"]
    assert np.isfinite(scores).all() and (scores > 0).all()


def test_recommend_scores_equal_predicted_probabilities(with_features):
    """The split first layer of recommend computes what predict computes, pair by pair."""
    X, model = with_features
    user_row = X.iloc[[0]]
    recs = model.recommend(user_row["user_id"].to_numpy(), k=5, exclude_seen=False)
    pairs = user_row.loc[user_row.index.repeat(5)].assign(item_id=recs["item_id"].to_numpy())
    proba = model.predict_proba(pairs, task="interacted")[:, 1]
    np.testing.assert_allclose(recs["score"].to_numpy(), proba, rtol=1e-4, atol=1e-6)
