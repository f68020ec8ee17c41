"""Bad input: a clear error that names the culprit, and a fitted model left as it was."""

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError

from skmtrec import MultiTaskRecommender

from .conftest import TASKS


@pytest.fixture(scope="module")
def fitted(interactions):
    X, y = interactions
    return MultiTaskRecommender(tasks=TASKS, max_epochs=3, random_state=0).fit(X, y)


def assert_unchanged(model, X, before):
    pd.testing.assert_frame_equal(model.predict_tasks(X), before)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda X, y: (X.drop(columns="user_id"), y), "user id column 'user_id' is missing"),
        (lambda X, y: (X.drop(columns="item_id"), y), "item id column 'item_id' is missing"),
        (lambda X, y: (X, y.iloc[:-5]), "X has 12000, y has 11995"),
        (lambda X, y: (X, y.assign(clicks=1.0)), r"y has column\(s\) \['clicks'\] that `tasks`"),
        (lambda X, y: (X, y.drop(columns="category")), r"`tasks` names \['category'\] but y"),
        (
            lambda X, y: (X.assign(user_age=X["user_age"].astype(float).where(X.index != 7)), y),
            "NaN or infinity in numeric feature column 'user_age'",
        ),
        (
            lambda X, y: (
                X.assign(user_age=X["user_age"].replace(X["user_age"].iloc[0], np.inf)),
                y,
            ),
            "NaN or infinity in numeric feature column 'user_age'",
        ),
        (lambda X, y: (X, y.assign(like=1.0)), r"Task 'like' \(binary\) has a single class"),
        (
            lambda X, y: (X, y.assign(category=np.where(y["category"].isna(), None, "a"))),
            "Task 'category' .* single class",
        ),
        (
            lambda X, y: (X, y.assign(like=y["like"] + (y.index % 3 == 0))),
            "declared 'binary' but y has 3 classes",
        ),
        (lambda X, y: (X.iloc[:0], y.iloc[:0]), "0 sample"),
        (lambda X, y: (X, y.assign(rating="high")), "Task 'rating' is a regression task"),
        (lambda X, y: (X, None), "requires y to be passed"),
        (
            lambda X, y: (X.assign(user_id=X["user_id"].astype(float).where(X.index != 3)), y),
            "user id column 'user_id' contains NaN",
        ),
    ],
    ids=[
        "no-user-col",
        "no-item-col",
        "rows",
        "undeclared-y",
        "absent-y",
        "nan-feature",
        "inf-feature",
        "one-class",
        "one-class-str",
        "binary-3",
        "empty",
        "str-regression",
        "no-y",
        "nan-id",
    ],
)
def test_bad_fit_input_names_the_culprit_and_keeps_the_model(fitted, interactions, change, message):
    X, y = interactions
    before = fitted.predict_tasks(X)
    bad_X, bad_y = change(X, y)
    with pytest.raises(ValueError, match=message):
        fitted.fit(bad_X, bad_y)
    assert_unchanged(fitted, X, before)
    assert fitted.n_features_in_ == X.shape[1]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"tasks": {"rating": "ordinal"}}, "Task 'rating' has unknown kind 'ordinal'"),
        ({"tasks": {**TASKS, "like": "binary", "click": "ranking"}}, "unknown kind 'ranking'"),
        ({"task_weights": {"clicks": 2.0}}, r"`task_weights` names \['clicks'\]"),
        ({"task_weights": {"rating": -1.0}}, r"`task_weights\['rating'\]` must be"),
        ({"user_col": "uid"}, "user id column 'uid' is missing .* Set `user_col`"),
        ({"item_col": 9}, "The item column is position 9, but X has 4 feature"),
        ({"lr": -1.0}, "The 'lr' parameter"),
        ({"dropout": 1.5}, "The 'dropout' parameter"),
        ({"item_feature_shrinkage": -1.0}, "The 'item_feature_shrinkage' parameter"),
    ],
    ids=[
        "kind",
        "kind-among-many",
        "weights-name",
        "weights-value",
        "user-col",
        "item-col",
        "lr",
        "dropout",
        "shrinkage",
    ],
)
def test_bad_parameters_name_the_parameter(fitted, interactions, params, message):
    X, y = interactions
    before = fitted.predict_tasks(X)
    model = fitted.set_params(**params)
    try:
        with pytest.raises(ValueError, match=message):
            model.fit(X, y)
    finally:
        fitted.set_params(
            tasks=TASKS,
            task_weights=None,
            user_col="user_id",
            item_col="item_id",
            lr=2e-3,
            dropout=0.1,
            item_feature_shrinkage=None,
        )
    assert_unchanged(fitted, X, before)


def test_predict_before_fit_raises_not_fitted(interactions):
    X, _ = interactions
    model = MultiTaskRecommender(tasks=TASKS)
    for method in (model.predict, model.predict_tasks, model.predict_proba):
        with pytest.raises(NotFittedError, match="not fitted yet"):
            method(X)
    with pytest.raises(NotFittedError):
        model.score(X, X)


def test_predict_with_missing_or_changed_columns(fitted, interactions):
    X, _ = interactions
    with pytest.raises(ValueError, match="user_id"):
        fitted.predict(X.drop(columns="user_id"))
    with pytest.raises(ValueError, match="NaN or infinity in numeric feature column 'user_age'"):
        fitted.predict(X.assign(user_age=np.nan))
    with pytest.raises(ValueError, match="Reshape your data"):
        fitted.predict(X["user_id"].to_numpy())


def test_unseen_category_value_predicts(fitted, interactions):
    X, _ = interactions
    new = X.head(5).assign(user_segment="astronaut")
    assert fitted.predict_tasks(new)["rating"].notna().all()


def test_unhashable_categorical_value_is_a_type_error(interactions):
    X, y = interactions
    segments = X["user_segment"].to_numpy(dtype=object)
    segments[0] = {"a": 1}
    X = X.assign(user_segment=segments)
    with pytest.raises(TypeError, match=r"'user_segment'.*must be a bool, a string or a number"):
        MultiTaskRecommender(tasks=TASKS, max_epochs=1).fit(X, y)
