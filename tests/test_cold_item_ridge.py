"""A closed-form content model for items new to fit (``ColdStart.ridge``)."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import root_mean_squared_error

import skmtrec
from skmtrec import ColdStart, MultiTaskRecommender
from skmtrec._prepare.features import FeatureEncoder
from skmtrec._prepare.sides import assign_sides
from skmtrec._training import cold_item_ridge
from skmtrec._training.cold_item_ridge import ColdItemRidge, ItemContent, taste_projection
from skmtrec.model_selection import ColdItemSplit

from .conftest import movielens_xy
from .test_examples import load


def _coded(X):
    """The encoder, the encoded inputs and a maker of the item content (one per ridge)."""
    encoder = FeatureEncoder("user_id", "item_id").fit(X)
    inputs = encoder.transform(X)
    side = assign_sides(encoder, inputs, "auto", None)["item"]
    levels = [encoder.cardinalities[c] for c in side["categorical"]]
    return encoder, inputs, lambda: ItemContent(side["numeric"], side["categorical"], levels)


def _ridge(X, values, seed=0):
    encoder, inputs, content = _coded(X)
    return encoder, ColdItemRidge(content(), encoder.n_users).fit(inputs, values, seed)


def _user_mean(X, values, X_new):
    means = pd.Series(values).groupby(X["user_id"].to_numpy()).mean()
    return X_new["user_id"].map(means).fillna(np.nanmean(values)).to_numpy()


def _tastes(n_users=200, n_items=300, per_user=100, seed=0):
    """Ratings that are each user's own linear taste for three item traits, plus noise (0.3):
    what a rating of a new item can be told from its traits."""
    rng = np.random.RandomState(seed)
    traits, tastes = rng.normal(size=(n_items, 3)), rng.normal(size=(n_users, 3))
    users = np.repeat(np.arange(n_users), per_user)
    items = rng.randint(0, n_items, len(users))
    rating = (tastes[users] * traits[items]).sum(axis=1) + rng.normal(scale=0.3, size=len(users))
    X = pd.DataFrame({"user_id": users, "item_id": items})
    for k in range(3):
        X[f"trait{k}"] = traits[items, k]
    new = items >= int(0.8 * n_items)
    return X[~new], rating[~new], X[new], rating[new]


def test_a_ridge_per_user_finds_each_users_taste_for_new_items():
    X, rating, X_new, rating_new = _tastes()
    encoder, ridge = _ridge(X, rating)
    predicted = ridge.predict(encoder.transform(X_new))
    error = root_mean_squared_error(rating_new, predicted)
    baseline = root_mean_squared_error(rating_new, _user_mean(X, rating, X_new))
    # the tastes vary 1.7 around each user's mean; the noise is 0.3
    assert baseline > 1.5
    assert error < 0.45, (error, baseline)


def test_penalties_chosen_on_a_sample_of_users_still_find_the_tastes(monkeypatch):
    # 50 of the 200 users score the penalties; every user is still fitted
    X, rating, X_new, rating_new = _tastes()
    monkeypatch.setattr(cold_item_ridge, "SCORED_USERS", 50)
    encoder, ridge = _ridge(X, rating)
    error = root_mean_squared_error(rating_new, ridge.predict(encoder.transform(X_new)))
    assert error < 0.45, error


def test_missing_labels_drop_out_of_the_ridge():
    X, rating, X_new, _ = _tastes()
    encoder, inputs, content = _coded(X)
    missing = np.random.RandomState(1).rand(len(rating)) < 0.3
    with_nan = ColdItemRidge(content(), encoder.n_users).fit(
        inputs, np.where(missing, np.nan, rating), seed=0
    )
    kept = {key: values[~missing] for key, values in inputs.items()}
    without = ColdItemRidge(content(), encoder.n_users).fit(kept, rating[~missing], seed=0)
    new = encoder.transform(X_new)
    np.testing.assert_allclose(with_nan.predict(new), without.predict(new))


def test_blocks_of_users_and_items_give_the_same_ridge(monkeypatch):
    # blocks of 7 users and 7 items (7 outer products of width 4) against one block of all
    X, rating, X_new, _ = _tastes()
    encoder, whole = _ridge(X, rating)
    monkeypatch.setattr(cold_item_ridge, "_BLOCK_FLOATS", 7 * 4 * 4)
    _, blocked = _ridge(X, rating)
    new = encoder.transform(X_new)
    np.testing.assert_allclose(blocked.predict(new), whole.predict(new), rtol=1e-5)


def _one_trait_among_noise(n_users=200, n_items=300, per_user=100, seed=0):
    """40 numeric item columns: 39 of noise (standard deviation 2) and one trait (1) that
    each user rates by their own taste for it, plus noise (0.3)."""
    rng = np.random.RandomState(seed)
    content = rng.normal(scale=2.0, size=(n_items, 40))
    content[:, 7] = rng.normal(scale=1.0, size=n_items)
    taste = rng.normal(scale=2.0, size=n_users)
    users = np.repeat(np.arange(n_users), per_user)
    items = rng.randint(0, n_items, len(users))
    rating = taste[users] * content[items, 7] + rng.normal(scale=0.3, size=len(users))
    X = pd.DataFrame(content[items], columns=[f"c{k}" for k in range(40)])
    X.insert(0, "item_id", items)
    X.insert(0, "user_id", users)
    new = items >= int(0.8 * n_items)
    return content, X[~new], rating[~new], X[new], rating[new]


def _trait_projection(n_components=4):
    content, X, rating, _, _ = _one_trait_among_noise()
    users, items = X["user_id"].to_numpy(), X["item_id"].to_numpy()
    residuals = rating - pd.Series(rating).groupby(users).transform("mean").to_numpy()
    return content, taste_projection(content, users, items, residuals, n_components)


def test_the_taste_directions_find_the_rated_column_among_wider_ones():
    content, projection = _trait_projection()
    assert projection.shape == (40, 4)
    # the trait leads the first direction, though each of the 39 other columns varies more
    first = np.abs(projection[:, 0]) / np.linalg.norm(projection[:, 0])
    assert np.argmax(first) == 7 and first[7] > 0.7, first
    np.testing.assert_allclose((content @ projection).std(axis=0), 1.0)


def test_only_directions_some_taste_leans_along_get_weight():
    # 3 users lean along 3 directions at most: the 13 others would be arbitrary columns
    content, X, rating, _, _ = _one_trait_among_noise()
    few = X["user_id"].to_numpy() < 3
    users, items = X["user_id"].to_numpy()[few], X["item_id"].to_numpy()[few]
    residuals = rating[few] - pd.Series(rating[few]).groupby(users).transform("mean").to_numpy()
    projection = taste_projection(content, users, items, residuals, 16)
    assert (np.abs(projection[:, :3]).sum(axis=0) > 0).all()
    assert (projection[:, 3:] == 0).all()
    # no taste at all: no direction
    assert (taste_projection(content, users, items, residuals * 0, 16) == 0).all()


def test_blocks_of_users_give_the_same_taste_directions(monkeypatch):
    _, whole = _trait_projection()
    monkeypatch.setattr(cold_item_ridge, "_BLOCK_FLOATS", 7 * 40)  # 7 users a block
    _, blocked = _trait_projection()
    # an eigenvector's sign is arbitrary
    np.testing.assert_allclose(np.abs(blocked), np.abs(whole), rtol=1e-6, atol=1e-9)


def test_a_wide_numeric_side_still_gives_each_users_taste_for_new_items():
    # 16 principal components of these 40 columns would leave the trait out
    _, X, rating, X_new, rating_new = _one_trait_among_noise()
    encoder, ridge = _ridge(X, rating)
    predicted = ridge.predict(encoder.transform(X_new))
    error = root_mean_squared_error(rating_new, predicted)
    baseline = root_mean_squared_error(rating_new, _user_mean(X, rating, X_new))
    assert error < 0.5 * baseline, (error, baseline)


def test_categorical_features_enter_one_hot_within_the_width():
    # 3 numeric columns and the constant, then 10 values (14 wide), not 60 (74), then 5 (19)
    content = ItemContent([0, 1, 2], [0, 1, 2], [10, 60, 5])
    assert content.categorical == [0, 2] and content.width == 19
    codes = np.array([[3, 7, 0], [10, 1, 5]])  # code 0: a value unseen in fit, no level
    design = content.transform({"numeric": np.zeros((2, 3)), "categorical": codes})
    assert design.shape == (2, 19)
    assert design[0, 3 + 2] == 1 and design[0, 13:18].sum() == 0
    assert design[1, 3 + 9] == 1 and design[1, 13 + 4] == 1 and (design[:, -1] == 1).all()


def _new_movie_errors(X, y, X_new, y_new):
    """The rating RMSE on the new movies of the ridge fitted on (X, y), and of the user mean."""
    encoder, ridge = _ridge(X, y["rating"].to_numpy(float))
    predicted = np.clip(ridge.predict(encoder.transform(X_new)), 1, 5)
    error = root_mean_squared_error(y_new["rating"], predicted)
    baseline = root_mean_squared_error(
        y_new["rating"], np.clip(_user_mean(X, y["rating"].to_numpy(), X_new), 1, 5)
    )
    return error, baseline


def test_the_ridge_rates_new_movies_from_their_genres(movielens):
    # R3's split (20% of the movies held out); the genres are the item content
    ratings = movielens.ratings
    train, test = next(ColdItemSplit(0.2, random_state=0).split(ratings))
    X, y = movielens_xy(ratings.iloc[train])
    X_new, y_new = movielens_xy(ratings.iloc[test])
    error, baseline = _new_movie_errors(X, y, X_new, y_new)
    # 1.022 against 1.043 when written
    assert error < 0.99 * baseline, (error, baseline)


@pytest.mark.slow
def test_the_ridge_rates_new_movies_from_their_titles(movielens):
    # R3's split again, with the titles' sentence embeddings (384 columns) beside the genres
    example = load("text_pipeline")
    ratings = movielens.ratings
    train, test = next(ColdItemSplit(0.2, random_state=0).split(ratings))
    X, y = example.movielens_xy(ratings.iloc[train])
    X_new, y_new = example.movielens_xy(ratings.iloc[test])
    features = example.make_text_pipeline()[:-1].fit(X)
    error, baseline = _new_movie_errors(features.transform(X), y, features.transform(X_new), y_new)
    # 0.9921 against 1.0429 when written (-4.9%); through the titles' first 8 principal
    # components instead of the taste directions, 0.9982 (-4.3%)
    assert error < 0.955 * baseline, (error, baseline)


@pytest.fixture(scope="module")
def blends():
    """Models of the tastes at three weights of the ridge: the network alone, the mean, the
    ridge alone (the same network in each)."""
    X, rating, X_new, rating_new = _tastes()
    y = pd.DataFrame({"rating": rating, "like": (rating > 0).astype(float)})
    models = {
        weight: MultiTaskRecommender(
            {"rating": "regression", "like": "binary"},
            cold_start=ColdStart(ridge=weight),
            max_epochs=3,
            random_state=0,
        ).fit(X, y)
        for weight in (0.0, 0.5, 1.0)
    }
    return models, X, X_new, rating_new


def test_the_blend_weighs_the_ridge_in_new_items_regression_only(blends):
    models, X, X_new, _ = blends
    known = {w: m.predict_tasks(X.head(300)) for w, m in models.items()}
    new = {w: m.predict_tasks(X_new) for w, m in models.items()}
    pd.testing.assert_frame_equal(known[0.0], known[0.5])  # known items: the network's
    pd.testing.assert_series_equal(new[0.0]["like"], new[0.5]["like"])  # no regression task
    np.testing.assert_allclose(
        new[0.5]["rating"], (new[0.0]["rating"] + new[1.0]["rating"]) / 2, rtol=1e-6
    )


def test_the_blend_rates_new_items_better_than_the_network(blends):
    models, _, X_new, rating_new = blends
    errors = {
        weight: root_mean_squared_error(rating_new, model.predict_tasks(X_new)["rating"])
        for weight, model in models.items()
    }
    assert errors[0.5] < 0.9 * errors[0.0], errors


def test_a_saved_model_keeps_its_ridge(blends, tmp_path):
    models, _, X_new, _ = blends
    loaded = skmtrec.load(models[0.5].save(tmp_path / "model"))
    pd.testing.assert_frame_equal(loaded.predict_tasks(X_new), models[0.5].predict_tasks(X_new))


def test_the_blend_is_fitted_state_not_the_parameter(blends):
    """Non-regression: predict read the ridge's weight from the parameter, so that a
    ``set_params`` after fit changed a fitted model's predictions."""
    models, _, X_new, _ = blends
    model = models[0.5]
    before = model.predict_tasks(X_new)
    try:
        model.set_params(cold_start=ColdStart(ridge=0.0))
        pd.testing.assert_frame_equal(model.predict_tasks(X_new), before)
    finally:
        model.set_params(cold_start=ColdStart(ridge=0.5))


def test_recommend_scores_new_items_as_predict_does(blends):
    """predict and recommend share one definition of a new item's prediction: the network's
    blended with the ridge's (recommend scored new items by the network alone)."""
    models, X, X_new, _ = blends
    model = models[0.5]
    items = X_new.drop_duplicates("item_id").drop(columns="user_id").head(40)
    user = int(X["user_id"].iloc[0])
    recs = model.recommend([user], k=len(items), task="rating", items=items, exclude_seen=False)
    predicted = model.predict_tasks(items.assign(user_id=user)[X.columns])["rating"]
    by_item = dict(zip(items["item_id"], predicted, strict=True))
    np.testing.assert_allclose(recs["score"], recs["item_id"].map(by_item), atol=1e-4)


def test_the_onnx_graph_blends_new_items_as_predict_does(blends, tmp_path):
    onnxruntime = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    models, X, X_new, _ = blends
    model = models[0.5]
    rows = pd.concat([X.head(20), X_new.head(20)], ignore_index=True)
    session = onnxruntime.InferenceSession(str(model.export_onnx(tmp_path / "model.onnx")))
    names = [output.name for output in session.get_outputs()]
    outputs = dict(zip(names, session.run(None, model.onnx_inputs(rows)), strict=True))
    np.testing.assert_allclose(outputs["rating"], model.predict_tasks(rows)["rating"], atol=1e-4)


def test_items_without_features_get_no_ridge(interactions):
    X, y = interactions
    fits = [
        MultiTaskRecommender(
            tasks={"rating": "regression"},
            cold_start=ColdStart(ridge=weight),
            max_epochs=2,
            random_state=0,
        ).fit(X[X["item_id"] % 5 > 0], y[X["item_id"] % 5 > 0][["rating"]])
        for weight in (0.0, 0.5)
    ]
    new = X[X["item_id"] % 5 == 0]
    np.testing.assert_array_equal(fits[0].predict(new), fits[1].predict(new))
