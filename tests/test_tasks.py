"""Tasks: kinds, labels of any type, missing labels, predictions and scores."""

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, r2_score, roc_auc_score, root_mean_squared_error

from skmtrec import MultiTaskRecommender, make_task_scorer

from .conftest import TASKS


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
    probas = model.predict_proba(X)
    assert set(probas) == {"like", "category"}
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
    model = MultiTaskRecommender(tasks=TASKS, max_epochs=5, random_state=0).fit(X, y)
    pred = model.predict_tasks(X)
    expected = []
    for task in TASKS:
        present = y[task].notna()
        metric = r2_score if task == "rating" else accuracy_score
        expected.append(metric(y.loc[present, task], pred.loc[present, task]))
    assert model.score(X, y) == pytest.approx(np.mean(expected))


def test_task_scorers_match_sklearn_metrics(interactions):
    X, y = interactions
    model = MultiTaskRecommender(tasks=TASKS, max_epochs=5, random_state=0).fit(X, y)
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


def test_task_weights_shape_the_loss(interactions):
    X, y = interactions
    only_rating = MultiTaskRecommender(
        tasks=TASKS, task_weights={"like": 0.0, "category": 0.0}, max_epochs=3, random_state=0
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


def test_verbose_prints_per_task_losses_and_zero_is_silent(interactions, capsys):
    X, y = interactions
    MultiTaskRecommender(tasks=TASKS, max_epochs=2, random_state=0, verbose=0).fit(X, y)
    assert capsys.readouterr().out == ""
    MultiTaskRecommender(tasks=TASKS, max_epochs=2, random_state=0, verbose=1).fit(X, y)
    out = capsys.readouterr().out
    for column in ("train_loss", "valid_loss", "valid_rating_loss", "train_category_loss"):
        assert column in out


def test_early_stopping_restores_best_epoch(interactions):
    X, y = interactions
    model = MultiTaskRecommender(
        tasks=TASKS, max_epochs=200, patience=2, lr=0.02, random_state=0
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
    assert model.net_.optimizer_.param_groups[0]["lr"] == pytest.approx(2e-3 / 8)
