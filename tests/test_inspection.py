"""TrainingHistoryDisplay draws what the history holds."""

import importlib.util
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from skmtrec import MultiTaskRecommender
from skmtrec.datasets import make_interactions
from skmtrec.inspection import TrainingHistoryDisplay

matplotlib.use("Agg")
TASKS = {"rating": "regression", "like": "binary"}


@pytest.fixture(scope="module")
def data():
    X, y = make_interactions(n_users=100, n_items=50, n_interactions=2500, random_state=0)
    return X.drop(columns="item_text"), y[["rating", "like"]]


def fit(data, **params):
    params = {"tasks": TASKS, "max_epochs": 4, "random_state": 0, **params}
    return MultiTaskRecommender(**params).fit(*data)


def test_losses_and_adapting_weights_are_drawn_from_the_history(data):
    model = fit(data, task_balancing="uncertainty")
    display = TrainingHistoryDisplay.from_estimator(model)
    history = model.net_.history
    assert len(display.ax_) == 2 and display.figure_ is display.ax_[0].figure
    for task in TASKS:
        np.testing.assert_allclose(
            display.lines_[f"train {task}"].get_ydata(), history[:, f"train_{task}_loss"]
        )
        np.testing.assert_allclose(
            display.lines_[f"valid {task}"].get_ydata(), history[:, f"valid_{task}_loss"]
        )
        np.testing.assert_allclose(
            display.lines_[f"weight {task}"].get_ydata(), history[:, f"task_weight_{task}"]
        )
    np.testing.assert_array_equal(display.lines_["train rating"].get_xdata(), [1, 2, 3, 4])


def test_fixed_weights_and_no_validation_draw_only_training_losses(data):
    model = fit(data, task_balancing="fixed", validation_fraction=0)
    display = TrainingHistoryDisplay.from_estimator(model)
    assert len(display.ax_) == 1
    assert sorted(display.lines_) == ["train like", "train rating"]
    assert display.best_epoch is None


def test_the_kept_epoch_is_marked(data):
    model = fit(data, max_epochs=40, lr=0.05, patience=2, stop_per_task=False)
    display = TrainingHistoryDisplay.from_estimator(model)
    valid = np.asarray(model.net_.history[:, "valid_loss"])
    assert display.best_epoch == int(valid.argmin()) + 1
    assert any(line.get_xdata()[0] == display.best_epoch for line in display.ax_[0].lines)


def test_each_tasks_kept_epoch_is_marked(data):
    model = fit(data, max_epochs=40, lr=0.05, patience=2)
    display = TrainingHistoryDisplay.from_estimator(model)
    kept = dict(model.net_.callbacks_)["task_checkpoints"].best_epoch_
    assert display.best_epoch == kept
    marks = {line.get_label(): line.get_xdata()[0] for line in display.ax_[0].lines}
    assert all(marks[f"{task} kept"] == epoch for task, epoch in kept.items())


def test_given_axes_are_used_and_their_count_checked(data):
    import matplotlib.pyplot as plt

    model = fit(data, task_balancing="fixed")
    _, ax = plt.subplots()
    display = TrainingHistoryDisplay.from_estimator(model, ax=ax)
    assert display.ax_[0] is ax
    _, axes = plt.subplots(1, 2)
    with pytest.raises(ValueError, match="`ax` must hold 1 Axes"):
        TrainingHistoryDisplay.from_estimator(model, ax=axes)
    plt.close("all")


def test_a_pipeline_draws_its_recommenders_history(data):
    model = MultiTaskRecommender(TASKS, max_epochs=2, task_balancing="fixed", random_state=0)
    pipeline = Pipeline([("identity", FunctionTransformer()), ("model", model)]).fit(*data)
    display = TrainingHistoryDisplay.from_estimator(pipeline)
    np.testing.assert_allclose(
        display.lines_["train rating"].get_ydata(), model.net_.history[:, "train_rating_loss"]
    )


def test_an_unfitted_model_is_refused():
    with pytest.raises(NotFittedError):
        TrainingHistoryDisplay.from_estimator(MultiTaskRecommender(tasks=TASKS))


def test_the_example_saves_the_picture_of_a_movielens_fit(tmp_path, movielens):
    path = Path(__file__).resolve().parents[1] / "examples" / "training_history.py"
    spec = importlib.util.spec_from_file_location("training_history", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    out = tmp_path / "history.png"
    display = example.main(["--out", str(out), "--rows", "5000", "--max-epochs", "3"])
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert set(display.train_losses) == {"rating", "interacted"}
