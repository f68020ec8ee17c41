"""Training rows seen again as rows of an item new to fit (``ColdStart.copies``)."""

import numpy as np
import pytest
import torch
from sklearn.metrics import root_mean_squared_error

from skmtrec import ColdStart, MultiTaskRecommender
from skmtrec._training.cold_copies import ColdItemCopies
from skmtrec.model_selection import ColdItemSplit

from .conftest import movielens_xy


def test_copies_repeat_the_observed_rows_without_implicit_labels():
    # four observed rows (rating, implicit), then two sampled negatives
    X = {"user": torch.tensor([1, 2, 3, 4, 1, 2]), "item": torch.tensor([5, 6, 7, 8, 9, 9])}
    y = torch.tensor([[4.0, 1], [2, 1], [5, 1], [3, 1], [np.nan, 0], [np.nan, 0]])
    X_out, y_out = ColdItemCopies(0.5, [1])(X, y, n_observed=4)
    assert X_out["cold_item"].tolist() == [False] * 6 + [True] * 2
    assert X_out["item"][6:].tolist() == [5, 6] and X_out["user"][6:].tolist() == [1, 2]
    np.testing.assert_array_equal(y_out[:6], y)  # the batch itself is untouched
    assert y_out[6:, 0].tolist() == [4.0, 2.0]
    assert torch.isnan(y_out[6:, 1]).all()  # a copy is no implicit positive


def test_a_hidden_item_is_served_as_a_new_item(interactions):
    X, y = interactions
    model = MultiTaskRecommender(tasks={"rating": "regression"}, max_epochs=2, random_state=0).fit(
        X, y[["rating"]]
    )
    module = model.net_.module_.eval()
    # the network's own input, as predict has it
    encoded = model.model_.encoder.transform(X.head(50))
    batch = {key: torch.as_tensor(value) for key, value in encoded.items()}
    with torch.no_grad():
        hidden = module(**batch, cold_item=torch.ones(50, dtype=torch.bool))[0]
        unseen = module(**{**batch, "item": torch.zeros_like(batch["item"])})[0]
        seen = module(**batch)[0]
    torch.testing.assert_close(hidden, unseen)
    assert not torch.allclose(hidden, seen)


def test_items_without_features_get_no_copies(interactions):
    # a copy of an item without features is the unseen-item row again: nothing to teach
    X, y = interactions
    X = X[["user_id", "item_id"]]
    fits = [
        MultiTaskRecommender(
            tasks={"rating": "regression"},
            cold_start=ColdStart(copies=copies),
            max_epochs=2,
            random_state=0,
        ).fit(X, y[["rating"]])
        for copies in (0.0, 0.5)
    ]
    np.testing.assert_array_equal(fits[0].predict(X), fits[1].predict(X))


@pytest.mark.slow
def test_copies_teach_the_item_features_to_rate_new_movies(movielens):
    # R3's split: 20% of the movies held out, every rating of theirs is test; genres are the
    # only item content. Three epochs keep the test short; the full fits are in the README.
    ratings = movielens.ratings
    train, test = next(ColdItemSplit(0.2, random_state=0).split(ratings))
    X, y = movielens_xy(ratings.iloc[train])
    X_new, y_new = movielens_xy(ratings.iloc[test])
    # global mean plus user bias: each user's mean rating
    user_mean = ratings.iloc[train].groupby("user_id")["rating"].mean()
    baseline = X_new["user_id"].map(user_mean).fillna(y["rating"].mean())
    rmse = {"baseline": root_mean_squared_error(y_new["rating"], np.clip(baseline, 1, 5))}
    for copies in (0.0, 0.5):
        model = MultiTaskRecommender(
            tasks={"rating": "regression", "interacted": "implicit"},
            # the network's own rating of new movies
            cold_start=ColdStart(copies=copies, ridge=0.0),
            max_epochs=3,
            random_state=0,
        ).fit(X, y[["rating"]])
        predicted = np.clip(model.predict_tasks(X_new)["rating"], 1, 5)
        rmse[copies] = root_mean_squared_error(y_new["rating"], predicted)
    # without copies the unseen-item row learns from 5% of the rows and new movies are rated
    # no better than by the user's mean; with them, 1% better (1.044 -> 1.034)
    assert rmse[0.5] < rmse[0.0] - 0.005, rmse
    assert rmse[0.5] < 0.995 * rmse["baseline"], rmse
