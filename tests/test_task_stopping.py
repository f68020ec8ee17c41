"""Early stopping per task (``stop_per_task``): each task is served by the network of its own
best validation epoch, everywhere the model serves it."""

import json
import pickle

import numpy as np
import pandas as pd
import pytest

import skmtrec
from skmtrec import MultiTaskRecommender
from skmtrec.datasets import make_interactions

TASKS = {"rating": "regression", "like": "binary", "category": "multiclass", "seen": "implicit"}
# a high learning rate, so that the tasks peak within a few epochs, at different ones
PARAMS = {"max_epochs": 15, "lr": 0.05, "patience": 2, "random_state": 0}


@pytest.fixture(scope="module")
def data():
    X, y = make_interactions(n_users=100, n_items=50, n_interactions=3000, random_state=0)
    return X.drop(columns="item_text"), y


@pytest.fixture(scope="module")
def fitted(data):
    X, y = data
    model = MultiTaskRecommender(TASKS, **PARAMS).fit(X, y)
    checkpoints = dict(model.net_.callbacks_)["task_checkpoints"]
    epochs = checkpoints.best_epoch_
    assert len(set(epochs.values())) == len(model.model_.members) > 1, epochs
    return model, epochs


@pytest.fixture(scope="module")
def stopped_once(data):
    """The same fit stopped once, after ``epochs`` epochs (``params`` over ``PARAMS``)."""
    X, y = data
    fits = {}

    def at(epochs: int, **params):
        key = (epochs, *sorted(params.items()))
        if key not in fits:
            once = {**PARAMS, **params, "stop_per_task": False, "patience": None}
            fits[key] = MultiTaskRecommender(TASKS, **{**once, "max_epochs": epochs}).fit(X, y)
        return fits[key]

    return at


def valid_losses(model, task: str) -> np.ndarray:
    return np.array(model.net_.history[:, f"valid_{task}_loss"])


def test_each_task_is_served_by_its_best_epochs_network(fitted, data, stopped_once):
    """A task's predictions and explanations are those of the same fit stopped at the epoch
    its own validation loss was lowest."""
    model, epochs = fitted
    X, _ = data
    rows = X.head(300)
    for task in ("rating", "category"):
        assert epochs[task] == 1 + int(np.argmin(valid_losses(model, task)))
        flags = model.net_.history[:, f"valid_{task}_loss_best"]
        assert max(e for e, best in enumerate(flags, 1) if best) == epochs[task]
        stopped = stopped_once(epochs[task])
        pd.testing.assert_series_equal(
            model.predict_tasks(rows)[task], stopped.predict_tasks(rows)[task]
        )
    pd.testing.assert_frame_equal(
        model.explain(rows.head(20), task="rating"),
        stopped_once(epochs["rating"]).explain(rows.head(20), task="rating"),
    )


def test_training_runs_until_every_task_has_stopped(fitted):
    model, epochs = fitted
    n_epochs = len(model.net_.history)
    last = max(epochs.values())
    assert n_epochs == PARAMS["max_epochs"] or n_epochs == last + PARAMS["patience"]
    assert all(np.min(valid_losses(model, task)) == valid_losses(model, task)[e - 1]
               for task, e in epochs.items())  # fmt: skip


def test_the_ranking_task_serves_recommend_and_the_vectors(fitted, data, stopped_once):
    """``recommend`` and ``similar_items`` rank as the fit stopped at the ranking task's best
    epoch, whose network is the net's module."""
    model, epochs = fitted
    X, _ = data
    fitted_model = model.model_
    seen = list(TASKS).index("seen")
    assert fitted_model.members[fitted_model.task_member[seen]] is model.net_.module_
    stopped = stopped_once(epochs["seen"])
    users = X["user_id"].unique()[:5]
    pd.testing.assert_frame_equal(
        model.recommend(users, k=5, exclude_seen=False),
        stopped.recommend(users, k=5, exclude_seen=False),
    )
    items = X["item_id"].unique()[:3]
    pd.testing.assert_frame_equal(
        model.similar_items(items, k=4), stopped.similar_items(items, k=4)
    )


def test_candidates_come_from_the_retrieval_tasks_own_network(data, stopped_once):
    """Ranked by a task kept at another epoch than the retrieval task (a softmax), every item
    is scored by the ranked task's network: the ranking of the fit stopped at its epoch,
    over every item, not over candidates retrieved by its epoch's retrieval task."""
    X, y = data
    model = MultiTaskRecommender(TASKS, **PARAMS, ranking_loss="softmax").fit(X, y)
    epochs = dict(model.net_.callbacks_)["task_checkpoints"].best_epoch_
    assert epochs["rating"] != epochs["seen"], epochs
    stopped = stopped_once(epochs["rating"], ranking_loss="softmax")
    users, n_items = X["user_id"].unique()[:6], X["item_id"].nunique()
    pd.testing.assert_frame_equal(
        model.recommend(users, k=5, task="rating", candidates=10),
        stopped.recommend(users, k=5, task="rating", candidates=n_items),
    )


def test_a_blend_scores_each_task_from_its_own_network(fitted, data):
    """A blend of tasks kept at different epochs ranks by each task's score from its own
    network: the sum of what each task alone ranks by, pair by pair."""
    model, epochs = fitted
    X, _ = data
    assert epochs["rating"] != epochs["seen"]
    users, items = X["user_id"].unique()[:4], X["item_id"].unique()
    blend = {"rating": 0.5, "seen": 2.0}
    top = model.recommend(users, k=50, items=items, task=blend, exclude_seen=False)
    for name, weight in blend.items():
        alone = model.recommend(users, k=50, items=items, task=name, exclude_seen=False)
        top = top.merge(alone, on=["user_id", "item_id"], suffixes=("", f"_{name}"))
        top[f"score_{name}"] *= weight
    assert len(top) == 4 * len(items)
    np.testing.assert_allclose(top["score"], top["score_rating"] + top["score_seen"], rtol=1e-5)
    explained = model.recommend(users, k=3, task=blend, explain=True)
    assert explained["because"].notna().all()


def test_the_networks_save_load_and_pickle(fitted, data, tmp_path):
    model, _ = fitted
    X, _ = data
    expected = model.predict_tasks(X)
    skmtrec.save(model, tmp_path / "model")
    names = sorted(p.name for p in (tmp_path / "model").iterdir())
    assert [n for n in names if n.startswith("weights")] == [
        "weights-1.safetensors",
        "weights-2.safetensors",
        "weights.safetensors",
    ]
    loaded = skmtrec.load(tmp_path / "model")
    pd.testing.assert_frame_equal(loaded.predict_tasks(X), expected)
    assert loaded.model_.task_member == model.model_.task_member
    pd.testing.assert_frame_equal(pickle.loads(pickle.dumps(model)).predict_tasks(X), expected)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"task_member": [0, 0, 7, 0]}, r"task_member\[2\] is 7, of 3 networks"),
        ({"task_member": [0, 1]}, "one index per task"),
        ({"task_member": [0, 1, 1, 0]}, r"leaves a network unused: \[0, 1, 1, 0\]"),
        ({"weights": ["weights-1.safetensors"] * 2}, "must list distinct files"),
        ({"weights": ["weights.safetensors"] * 1000}, "must list distinct files"),
        ({"weights": [{"a": 1}]}, "must list distinct files"),
    ],
)
def test_a_folder_whose_networks_do_not_add_up_is_refused(fitted, tmp_path, change, message):
    model, _ = fitted
    folder = skmtrec.save(model, tmp_path / "model")
    manifest = json.loads((folder / "estimator.json").read_text())
    manifest["estimator"]["state"]["fitted"]["task_members"].update(change)
    (folder / "estimator.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match=message):
        skmtrec.load(folder)


def test_one_stopping_point_keeps_one_network(data):
    X, y = data
    model = MultiTaskRecommender(TASKS, **PARAMS, stop_per_task=False).fit(X, y)
    assert len(model.model_.members) == 1
    assert "task_checkpoints" not in dict(model.net_.callbacks_)
    assert "early_stopping" in dict(model.net_.callbacks_)


def test_a_single_task_stops_as_before(data):
    X, y = data
    model = MultiTaskRecommender({"rating": "regression"}, **PARAMS).fit(X, y[["rating"]])
    assert "early_stopping" in dict(model.net_.callbacks_)
    assert len(model.model_.members) == 1


def test_an_estimator_pickled_before_the_parameter_stops_once():
    """A model saved before per-task stopping was fitted with one stopping point."""
    state = MultiTaskRecommender(TASKS).__getstate__()
    del state["stop_per_task"]
    model = MultiTaskRecommender.__new__(MultiTaskRecommender)
    model.__setstate__(state)
    assert model.get_params()["stop_per_task"] is False


def test_a_task_weighing_nothing_in_a_blend_asks_for_no_network(fitted, data):
    model, epochs = fitted
    X, _ = data
    assert epochs["rating"] != epochs["seen"]
    users = X["user_id"].unique()[:3]
    pd.testing.assert_frame_equal(
        model.recommend(users, k=5, task={"seen": 1.0, "rating": 0.0}),
        model.recommend(users, k=5, task="seen"),
    )
