"""Bad input: a clear error that names the culprit, and a fitted model left as it was."""

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError

from skmtrec import PLE, ColdStart, MMoE, MultiTaskRecommender, SharedBottom

from .conftest import TASKS, dataset, fitted_model


@pytest.fixture(scope="module")
def fitted():
    """A copy of the session's model: the tests below set its parameters and try to refit it."""
    return fitted_model(tasks=TASKS, max_epochs=3, random_state=0)


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
        (
            lambda X, y: (X.assign(user_age=X["user_age"] * 1e304), y),
            "column 'user_age' has values too large to standardize",
        ),
        (lambda X, y: (X, y.assign(rating=y["rating"] * 1e200)), "Task 'rating': y has values too"),
        (
            lambda X, y: (X.rename(columns={"user_age": "item_id"}), y),
            r"X has more than one .*'item_id'",
        ),
        (lambda X, y: (X, y.rename(columns={"like": "rating"})), r"y has more than one .*'rating'"),
    ],
    ids=[
        "overflow-feature",
        "overflow-target",
        "duplicate-X-column",
        "duplicate-y-column",
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
        ({"architecture": MMoE(dropout=1.5)}, "The 'dropout' parameter of MMoE"),
        ({"architecture": "moe"}, "The 'architecture' parameter"),
        ({"history_sample": 0}, "The 'history_sample' parameter"),
        ({"cold_start": ColdStart(id_dropout=1.0)}, "The 'id_dropout' parameter of ColdStart"),
        # checked before any torch call
        (
            {"architecture": SharedBottom(bottom_units=(0,))},
            r"`bottom_units` must be a tuple of positive ints",
        ),
        ({"architecture": MMoE(tower_units=(2.5,))}, r"`tower_units` must be a tuple"),
        ({"architecture": PLE(expert_units=(True,))}, r"`expert_units` must be a tuple"),
        ({"callbacks": [1]}, r"`callbacks\[0\]` must be a skorch Callback or a \(name, Callback\)"),
        ({"callbacks": [("a", 1)]}, r"`callbacks\[0\]` must be a skorch Callback"),
        ({"device": "nonsense"}, r"`device` must be a torch device .* got 'nonsense'"),
        ({"device": "cuda:99"}, r"`device`='cuda:99', but "),
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
        "architecture",
        "history-sample",
        "id-dropout",
        "bottom-units",
        "tower-units",
        "expert-units",
        "callback",
        "callback-pair",
        "device",
        "device-absent",
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
            architecture="mmoe",
            cold_start=None,
            history_sample=32,
            callbacks=None,
            device="cpu",
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


def test_duplicate_columns_are_refused_in_predict_and_score(fitted, interactions):
    X, y = interactions
    twice = X.rename(columns={"user_age": "item_id"})
    for call in (lambda: fitted.predict(twice), lambda: fitted.score(twice, y)):
        with pytest.raises(ValueError, match=r"X has more than one column named \['item_id'\]"):
            call()
    with pytest.raises(ValueError, match=r"y has more than one column named \['rating'\]"):
        fitted.score(X, y.rename(columns={"like": "rating"}))


@pytest.mark.parametrize(
    ("column", "drift", "fitted_as", "now"),
    [
        ("user_id", lambda c: c.astype(str), "numbers", "strings"),
        ("item_id", lambda c: c.astype(str), "numbers", "strings"),
        ("user_segment", lambda c: c.cat.codes.astype(int), "strings", "numbers"),
        ("flag", lambda c: c.astype(int), "bools", "numbers"),
    ],
)
def test_type_drift_at_predict_names_the_column(interactions, column, drift, fitted_as, now):
    X, y = interactions
    X = X.assign(flag=X["user_age"] > 40)
    model = MultiTaskRecommender(tasks=TASKS, max_epochs=1, random_state=0).fit(X, y)
    before = model.predict_tasks(X)
    message = f"Column '{column}' held {fitted_as} in fit but holds {now} now"
    with pytest.raises(ValueError, match=message):
        model.predict(X.assign(**{column: drift(X[column])}))
    if column == "user_id":
        with pytest.raises(ValueError, match=message):
            model.recommend(X[column].astype(str).head(2))
    # numbers stay numbers: float ids find the int ids of fit
    floats = model.predict_tasks(X.assign(user_id=X["user_id"].astype(float)))
    pd.testing.assert_frame_equal(floats, before)


@pytest.mark.parametrize("column", ["user_id", "item_id", "user_segment"])
def test_a_column_mixing_numbers_and_strings_is_refused(column):
    """Non-regression test for T9: an id column of ints in fit, given as ints and strs at
    predict, served the strs as unseen ids without a word; fit took 7 and "7" as two ids."""
    X, y = dataset("tiny")
    model = fitted_model("tiny", tasks=TASKS, max_epochs=1, random_state=0)
    before = model.predict_tasks(X)
    values = X[column].astype(object) if column != "user_segment" else X[column].cat.codes
    mixed = values.astype(object).where(X.index % 2 == 0, values.astype(str))
    fitted_as = "strings" if column == "user_segment" else "numbers"
    message = f"Column '{column}' held {fitted_as} in fit but mixes numbers and strings now"
    with pytest.raises(ValueError, match=message):
        model.predict(X.assign(**{column: mixed}))
    if column == "user_id":
        with pytest.raises(ValueError, match=message):
            model.recommend(mixed.head(4))
    if column != "user_segment":
        with pytest.raises(ValueError, match=f"The {column[:4]} id column '{column}' mixes"):
            model.fit(X.assign(**{column: mixed}), y)
    assert_unchanged(model, X, before)


def test_score_reads_every_y_form_that_fit_reads(fitted, interactions):
    X, y = interactions
    expected = fitted.score(X, y)
    objects = y.to_numpy(dtype=object)  # mixed labels: floats, NaN and strings
    assert fitted.score(X, objects) == pytest.approx(expected)
    # a list of rows keeps NaN a missing label, never the string "nan"
    assert fitted.score(X, objects.tolist()) == pytest.approx(expected)
    refit = MultiTaskRecommender(tasks=TASKS, max_epochs=1, random_state=0).fit(X, objects.tolist())
    assert list(refit.classes_["like"]) == [0.0, 1.0]
    assert "nan" not in refit.classes_["category"]
    with pytest.raises(ValueError, match="y's rows have different lengths"):
        fitted.score(X.head(2), [[1.0, 0.0, "a"], [2.0]])
