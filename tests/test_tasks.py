"""Tasks: kinds, labels of any type, missing labels, predictions and scores."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    r2_score,
    roc_auc_score,
    root_mean_squared_error,
)
from sklearn.preprocessing import MultiLabelBinarizer

from skmtrec import MultiTaskRecommender, make_task_scorer
from skmtrec.metrics import make_ranking_scorer

from .conftest import TASKS, dataset, fitted_model


def split(X, y, n_test=3000):
    return X.iloc[:-n_test], y.iloc[:-n_test], X.iloc[-n_test:], y.iloc[-n_test:]


def test_task_with_70_percent_missing_labels_still_learns(interactions):
    X, y = interactions
    Xtr, ytr, Xte, yte = split(X, y)
    rng = np.random.RandomState(0)
    sparse = ytr.copy()
    sparse.loc[rng.random_sample(len(sparse)) < 0.7, "like"] = np.nan
    assert sparse["like"].isna().mean() > 0.75  # 30% missing already, 70% more dropped
    model = MultiTaskRecommender(tasks=TASKS, max_epochs=30, random_state=0).fit(Xtr, sparse)
    auc = roc_auc_score(
        yte["like"].dropna(),
        model.predict_proba(Xte, task="like")[yte["like"].notna().to_numpy(), 1],
    )
    assert auc > 0.8


def test_missing_labels_drop_out_of_their_task_only(interactions):
    """Rows whose rating is missing still teach the other tasks, and no NaN reaches the loss."""
    X, y = interactions
    y = y.copy()
    y.loc[y.index[::2], "rating"] = np.nan
    model = MultiTaskRecommender(tasks=TASKS, max_epochs=5, random_state=0).fit(X, y)
    losses = model.net_.history[:, "train_loss"]
    assert np.isfinite(losses).all()
    assert losses[-1] < losses[0]
    assert np.isfinite(model.net_.history[:, "train_rating_loss"]).all()


def test_string_class_labels_and_predict_shapes(interactions):
    X, y = interactions
    y = y.assign(like=y["like"].map({1.0: "yes", 0.0: "no"}))
    model = MultiTaskRecommender(tasks=TASKS, max_epochs=5, random_state=0).fit(X, y)
    assert list(model.classes_["like"]) == ["no", "yes"]
    pred = model.predict(X)
    assert pred.shape == (len(X), 3)
    assert set(pred[:, 1]) <= {"no", "yes"}
    named = model.predict_tasks(X)
    assert list(named.columns) == list(TASKS)
    assert named.index.equals(X.index)
    assert set(named["category"]) <= set(model.classes_["category"])
    # two classification tasks: predict_proba names the one it gives
    with pytest.raises(ValueError, match=r"2 classification tasks \['like', 'category'\]"):
        model.predict_proba(X)
    probas = {task: model.predict_proba(X, task=task) for task in ("like", "category")}
    assert probas["category"].shape == (len(X), len(model.classes_["category"]))
    np.testing.assert_allclose(probas["category"].sum(axis=1), 1.0)
    # the label is the most probable class
    best = model.classes_["category"][probas["category"].argmax(axis=1)]
    np.testing.assert_array_equal(best, named["category"].to_numpy())


def test_single_task_predicts_1d_and_regression_is_unscaled(interactions):
    X, y = interactions
    model = MultiTaskRecommender(tasks={"rating": "regression"}, max_epochs=20, random_state=0)
    model.fit(X, y["rating"])
    pred = model.predict(X)
    assert pred.shape == (len(X),)
    # predictions are in rating units, not standardized ones
    assert 2.5 < pred.mean() < 4.0
    assert abs(pred.mean() - y["rating"].mean()) < 0.2
    assert not hasattr(model, "predict_proba")


def test_single_binary_task_predict_proba_is_2d(interactions):
    X, y = interactions
    model = MultiTaskRecommender(tasks={"like": "binary"}, max_epochs=5, random_state=0)
    model.fit(X, y[["like"]])
    proba = model.predict_proba(X)
    assert proba.shape == (len(X), 2)
    np.testing.assert_array_equal(model.predict(X), model.classes_["like"][proba.argmax(1)])


def test_score_is_mean_of_r2_and_accuracy_on_present_labels(interactions):
    X, y = interactions
    model = fitted_model(tasks=TASKS, max_epochs=3, random_state=0)
    pred = model.predict_tasks(X)
    expected = []
    for task in TASKS:
        present = y[task].notna()
        metric = r2_score if task == "rating" else accuracy_score
        expected.append(metric(y.loc[present, task], pred.loc[present, task]))
    assert model.score(X, y) == pytest.approx(np.mean(expected))


def test_task_scorers_match_sklearn_metrics(interactions):
    X, y = interactions
    model = fitted_model(tasks=TASKS, max_epochs=3, random_state=0)
    pred = model.predict_tasks(X)
    rmse = root_mean_squared_error(y["rating"], np.clip(pred["rating"], 1, 5))
    assert make_task_scorer("rating", "rmse", clip=(1, 5))(model, X, y) == pytest.approx(-rmse)
    present = y["like"].notna().to_numpy()
    auc = roc_auc_score(y["like"][present], model.predict_proba(X, task="like")[present, 1])
    assert make_task_scorer("like", "roc_auc")(model, X, y) == pytest.approx(auc)
    with pytest.raises(ValueError, match="'clicks' is not a task"):
        make_task_scorer("clicks", "rmse")(model, X, y)
    with pytest.raises(ValueError, match="Unknown metric 'ndcg'"):
        make_task_scorer("rating", "ndcg")


def test_scoring_probabilities_of_a_class_unseen_in_fit_is_refused():
    """Non-regression test: roc_auc on a class the model never saw returned a number and
    log_loss raised scikit-learn's own error; both now refuse, naming it. A metric of
    predictions counts such a row as wrong."""
    X, y = dataset("tiny")
    model = fitted_model("tiny", tasks=TASKS, max_epochs=1, random_state=0)
    before = model.predict_tasks(X)
    odd = y.assign(like=y["like"].where(np.arange(len(y)) % 7 != 0, 2.0))
    for metric in ("roc_auc", "log_loss"):
        with pytest.raises(
            ValueError, match=r"Task 'like': .* not seen in fit: \[2.0\]; the model"
        ):
            make_task_scorer("like", metric)(model, X, odd)
    western = y.assign(category=y["category"].where(np.arange(len(y)) % 7 != 0, "western"))
    with pytest.raises(ValueError, match=r"Task 'category': .* \['western'\]; the model ne"):
        make_task_scorer("category", "log_loss")(model, X, western)
    with pytest.raises(ValueError, match=r"Task 'like': .* \[2.0\]; the model never saw"):
        make_ranking_scorer("ndcg", k=5, relevance=("like", 1))(model, X, odd)
    with pytest.raises(ValueError, match=r"task 'category''s labels .* are not numbers"):
        make_ranking_scorer("ndcg", k=5, relevance=("category", 1))(model, X, y)
    present = western["category"].notna()
    right = (model.predict_tasks(X)["category"] == western["category"])[present].mean()
    assert make_task_scorer("category", "accuracy")(model, X, western) == pytest.approx(right)
    pd.testing.assert_frame_equal(model.predict_tasks(X), before)
    assert 0 <= make_task_scorer("like", "roc_auc")(model, X, y) <= 1


def test_task_weights_shape_the_loss(interactions):
    X, y = interactions
    only_rating = MultiTaskRecommender(
        tasks=TASKS,
        task_weights={"like": 0.0, "category": 0.0},
        task_balancing="fixed",
        max_epochs=3,
        random_state=0,
    ).fit(X, y)
    history = only_rating.net_.history
    np.testing.assert_allclose(history[:, "train_loss"], history[:, "train_rating_loss"], rtol=1e-5)


def test_unseen_users_and_items_predict_from_features(interactions):
    X, y = interactions
    model = MultiTaskRecommender(tasks=TASKS, max_epochs=10, random_state=0).fit(X, y)
    new = X.head(50).assign(user_id=-1, item_id=np.arange(10_000, 10_050))
    pred = model.predict_tasks(new)
    assert pred["rating"].between(0, 6).all()
    # the population row is trained (id dropout), so new rows follow the user features
    by_segment = pred.groupby(new["user_segment"].to_numpy(), observed=True)["rating"].mean()
    assert by_segment.nunique() > 1


def test_early_stopping_restores_best_epoch(interactions):
    X, y = interactions
    model = MultiTaskRecommender(
        tasks=TASKS, max_epochs=200, patience=2, lr=0.02, stop_per_task=False, random_state=0
    ).fit(X, y)
    history = model.net_.history
    assert len(history) < 200
    valid = np.array(history[:, "valid_loss"])
    best = int(valid.argmin())
    assert best == len(valid) - 3  # stopped after `patience` epochs without a better loss
    assert history[best, "valid_loss_best"]
    assert "early_stopping" in dict(model.net_.callbacks_)


def test_extra_skorch_callbacks_run(interactions):
    from skorch.callbacks import LRScheduler

    X, y = interactions
    scheduler = LRScheduler(policy="StepLR", step_size=1, gamma=0.5)
    model = MultiTaskRecommender(
        tasks=TASKS, max_epochs=3, callbacks=[("halve_lr", scheduler)], random_state=0
    ).fit(X, y)
    # every parameter group (the balancing's trains at 10 times lr) halved on each of 3 epochs
    for group in model.net_.optimizer_.param_groups:
        assert group["lr"] == pytest.approx(group["initial_lr"] / 8)


# each category's tags: one or two labels of mixed types, some shared between categories
CATEGORY_TAGS = {
    "scifi": ("space", 1),
    "romance": ("love",),
    "crime": ("dark", 1),
    "fantasy": ("space", "magic"),
    "war": ("dark",),
    "comedy": ("fun",),
    "horror": ("dark", "fun"),
    "family": ("fun", 1),
}


@pytest.fixture(scope="module")
def tagged(interactions):
    """A multilabel task that follows the item's most frequent category, with missing rows
    given as None and NaN (and where the category is missing), labels given as lists, tuples
    and sets."""
    X, y = interactions
    labelled = pd.concat([X["item_id"], y["category"]], axis=1).dropna()
    modal = labelled.groupby("item_id")["category"].agg(lambda s: s.mode()[0])
    rows = []
    for j, (item, category) in enumerate(zip(X["item_id"], y["category"], strict=True)):
        if j % 10 == 0 or not isinstance(category, str):
            rows.append(None if j % 20 == 0 else np.nan)
            continue
        rows.append((list, tuple, set)[j % 3](CATEGORY_TAGS[modal[item]]))
    return X, y.assign(tags=pd.Series(rows, dtype=object, index=y.index))


def test_multilabel_task_learns_and_predicts_tuples_of_labels(tagged):
    X, y = tagged
    tasks = {"rating": "regression", "tags": "multilabel"}
    model = MultiTaskRecommender(tasks=tasks, max_epochs=15, random_state=0).fit(X, y[list(tasks)])
    classes = model.classes_["tags"]
    assert list(classes) == [1, "dark", "fun", "love", "magic", "space"]
    pred = model.predict_tasks(X)["tags"]
    assert all(isinstance(p, tuple) and set(p) <= set(classes) for p in pred)
    proba = model.predict_proba(X, task="tags")
    assert proba.shape == (len(X), len(classes))
    assert ((proba >= 0) & (proba <= 1)).all()
    # a label is predicted exactly when its probability is at least one half
    assert [tuple(classes[row >= 0.5]) for row in proba[:50]] == list(pred[:50])
    # micro-F1 on present rows is the task's default metric, in score and make_task_scorer
    present = y["tags"].notna().to_numpy() & y["tags"].map(lambda v: v is not None).to_numpy()
    binarizer = MultiLabelBinarizer(classes=classes)
    f1 = f1_score(
        binarizer.fit_transform(y["tags"][present]),
        binarizer.transform(pred[present]),
        average="micro",
    )
    assert f1 > 0.8
    assert make_task_scorer("tags")(model, X, y[list(tasks)]) == pytest.approx(f1)
    r2 = r2_score(y["rating"], model.predict_tasks(X)["rating"])
    assert model.score(X, y[list(tasks)]) == pytest.approx((r2 + f1) / 2)
    assert make_task_scorer("tags", "roc_auc")(model, X, y[list(tasks)]) > 0.9


def test_multilabel_missing_rows_drop_out_of_its_loss(tagged):
    X, y = tagged
    y = y.assign(tags=y["tags"].where(np.arange(len(y)) % 2 == 0, None))
    model = MultiTaskRecommender(tasks={"rating": "regression", "tags": "multilabel"}, max_epochs=3)
    model.fit(X, y[["rating", "tags"]])
    assert np.isfinite(model.net_.history[:, "train_tags_loss"]).all()


def test_multilabel_labels_must_be_collections(tagged):
    X, y = tagged
    model = MultiTaskRecommender(tasks={"tags": "multilabel"}, max_epochs=1)
    bad = y[["tags"]].assign(tags=["comedy"] * len(y))
    with pytest.raises(ValueError, match="Task 'tags' is 'multilabel': each label must be a list"):
        model.fit(X, bad)
    model.fit(X, y[["tags"]])
    before = model.predict(X)
    unknown = y[["tags"]].assign(tags=[("western",)] * len(y))
    with pytest.raises(ValueError, match=r"Task 'tags': y has labels not seen in fit: \['western'"):
        model.score(X, unknown)
    np.testing.assert_array_equal(model.predict(X), before)


@pytest.mark.parametrize("gaps", [(np.nan,), (None,), (np.nan, None)], ids=["nan", "none", "both"])
def test_missing_values_inside_a_label_set_are_dropped(gaps):
    """Non-regression test for T8: a NaN or None inside a label set became a class, and NaN
    beside None in one column raised pandas' InvalidIndexError."""
    X, _ = dataset("tiny")
    first, last = gaps[0], gaps[-1]
    cells = [("a", first), ("b", last), ("a", "b"), None, np.nan, (first, last), ["b"]]
    tags = pd.Series([cells[j % len(cells)] for j in range(len(X))], dtype=object)
    model = MultiTaskRecommender(tasks={"tags": "multilabel"}, max_epochs=1, random_state=0)
    model.fit(X, tags.to_frame("tags"))
    assert list(model.classes_["tags"]) == ["a", "b"]
    encoded = model.fitted_tasks_["tags"].encode(pd.Series(cells, dtype=object))
    expected = [[1, 0], [0, 1], [1, 1], [np.nan] * 2, [np.nan] * 2, [0, 0], [0, 1]]
    np.testing.assert_array_equal(encoded, expected)
    assert 0 <= model.score(X, tags.to_frame("tags")) <= 1
