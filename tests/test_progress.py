"""What a fit reports while it trains (``verbose``, scikit-learn's callbacks), and the threads
it computes with (``n_threads``)."""

import importlib.util
import json
import re
import warnings

import joblib
import numpy as np
import pytest
import torch
from sklearn.model_selection import cross_validate
from skorch.callbacks import Callback

import skmtrec
from skmtrec import MultiTaskRecommender, make_task_scorer
from skmtrec._training.progress import _duration
from skmtrec.datasets import make_interactions

TWO_TASKS = {"rating": "regression", "like": "binary"}
HAS_SKLEARN_CALLBACKS = importlib.util.find_spec("sklearn.callback") is not None
needs_sklearn_callbacks = pytest.mark.skipif(
    not HAS_SKLEARN_CALLBACKS, reason="scikit-learn < 1.9 has no sklearn.callback"
)
LINE = re.compile(
    r"epoch (?P<epoch>\d+)/(?P<total>\d+)  train (?P<train>\S+)"
    r"(  valid (?P<valid>\S+))? \((?P<tasks>[^)]*)\)  (?P<seconds>[\d.]+)s"
    r"(  (?P<left>(at most )?\S+ left))?(  (?P<best>best))?$"
)


@pytest.fixture(scope="module")
def data():
    X, y = make_interactions(n_users=80, n_items=50, n_interactions=500, random_state=0)
    return X.drop(columns="item_text"), y[list(TWO_TASKS)]


def small(**params):
    return MultiTaskRecommender(
        **{"tasks": TWO_TASKS, "max_epochs": 3, "batch_size": 128, "random_state": 0, **params}
    )


class ThreadCount(Callback):
    """Records the threads torch computes with in each epoch (``torch_threads``)."""

    def on_epoch_end(self, net, **kwargs):
        net.history.record("torch_threads", torch.get_num_threads())


def test_verbose_one_prints_a_plain_line_per_epoch_on_one_scale(data, capsys):
    X, y = data
    model = small(task_balancing="uncertainty", verbose=1).fit(X, y)
    out, err = capsys.readouterr()
    assert "\x1b[" not in out + err  # no colour codes
    assert err == ""  # no progress bar
    lines = out.splitlines()
    history = model.net_.history
    assert len(lines) == len(history) == 3
    for epoch, (line, row) in enumerate(zip(lines, history, strict=True), start=1):
        match = LINE.match(line)
        assert match, line
        assert (int(match["epoch"]), int(match["total"])) == (epoch, 3)
        # the training loss printed is the one at the fixed weights, like the validation loss
        assert float(match["train"]) == pytest.approx(row["train_loss_fixed_weights"], abs=1e-4)
        assert float(match["valid"]) == pytest.approx(row["valid_loss"], abs=1e-4)
        assert float(match["train"]) >= 0 and float(match["valid"]) >= 0
        tasks = dict(part.split() for part in match["tasks"].split(", "))
        assert set(tasks) == set(TWO_TASKS)
        assert float(tasks["rating"]) == pytest.approx(row["valid_rating_loss"], rel=1e-3)
        # early stopping may end sooner: the time left is an upper bound, none after the last
        assert (match["left"] or "").startswith("at most") == (epoch < 3)
    assert LINE.match(lines[0])["best"] == "best"


def test_the_fixed_weight_training_loss_sums_the_weighted_task_losses(data):
    X, y = data
    weights = {"rating": 2.0, "like": 1.0}
    history = small(task_weights=weights).fit(X, y).net_.history
    for row in history:
        expected = sum(w * row[f"train_{name}_loss"] for name, w in weights.items())
        assert row["train_loss_fixed_weights"] == pytest.approx(expected, rel=1e-5)
    # with fixed weights, the loss the optimizer minimises is that same loss
    fixed = small(task_weights=weights, task_balancing="fixed").fit(X, y).net_.history
    np.testing.assert_allclose(
        fixed[:, "train_loss_fixed_weights"], fixed[:, "train_loss"], rtol=1e-5
    )


@pytest.mark.parametrize(
    ("seconds", "shown"), [(4.4, "4s"), (59.6, "1m00s"), (185, "3m05s"), (3725, "1h02m")]
)
def test_time_left_reads_in_seconds_minutes_or_hours(seconds, shown):
    assert _duration(seconds) == shown


def test_verbose_zero_prints_nothing(data, capsys):
    X, y = data
    small(verbose=0, patience=1, max_epochs=4).fit(X, y)
    assert capsys.readouterr() == ("", "")


def test_verbose_two_adds_a_bar_over_batches_apart_from_the_lines(data, capsys):
    X, y = data
    model = small(verbose=2, validation_fraction=0).fit(X, y)
    out, err = capsys.readouterr()
    # one bar per epoch on stderr (tqdm), the lines whole on stdout
    batches = len(model.net_.history[0, "batches"])
    assert err.count(f" 0/{batches} [") == 3
    lines = out.splitlines()
    assert len(lines) == 3 and all(LINE.match(line) for line in lines)
    # without a validation split: the training losses, and no early stopping to shorten it
    match = LINE.match(lines[0])
    assert match["valid"] is None
    assert set(dict(p.split() for p in match["tasks"].split(", "))) == set(TWO_TASKS)
    assert match["left"].endswith(" left") and not match["left"].startswith("at most")


@needs_sklearn_callbacks
def test_sklearn_progress_bar_follows_the_epochs(data, capsys):
    from sklearn.callback import ProgressBar

    X, y = data
    model = small().set_callbacks(ProgressBar())
    model.fit(X, y)
    out, _ = capsys.readouterr()
    assert "MultiTaskRecommender - fit" in out
    assert "100%" in out
    # the bridge holds the estimator and the data: the fitted net does not keep it
    assert "sklearn_callbacks" not in dict(model.net_.callbacks_)


@needs_sklearn_callbacks
def test_sklearn_scoring_monitor_scores_every_epoch_and_the_fitted_model(data):
    from sklearn.callback import ScoringMonitor

    X, y = data
    monitor = ScoringMonitor(scoring={"rmse": make_task_scorer("rating", "rmse")})
    model = small().set_callbacks(monitor).fit(X, y)
    log = monitor.get_logs().data_as_pandas
    epochs = log[log["task_name"] == "epoch"]
    assert len(epochs) == len(model.net_.history) == 3
    assert np.isfinite(epochs["rmse"]).all()
    # the root task scores the fitted model, as the scorer does after fit
    root = log[log["task_id_path"] == (0,)]
    assert root["rmse"].item() == pytest.approx(make_task_scorer("rating", "rmse")(model, X, y))


class StopAfter:
    """A scikit-learn callback that asks to stop at the end of the ``n``-th epoch."""

    def __init__(self, n):
        self.n = n

    def setup(self, estimator, context):
        pass

    def teardown(self, estimator, context):
        pass

    def on_fit_task_begin(self, estimator, context):
        pass

    def on_fit_task_end(self, estimator, context):
        return context.task_name == "epoch" and context.task_id + 1 >= self.n


@needs_sklearn_callbacks
def test_a_sklearn_callback_that_asks_to_stop_ends_training_quietly(data):
    X, y = data
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not taken for an interrupt
        model = small(max_epochs=5).set_callbacks(StopAfter(2)).fit(X, y)
    assert len(model.net_.history) == 2


def test_n_threads_sets_torch_threads_for_fit_and_predict_then_restores(data, monkeypatch):
    X, y = data
    before = torch.get_num_threads()
    torch.set_num_threads(2)  # so that 1 differs, on any machine
    try:
        model = small(n_threads=1, callbacks=[ThreadCount()]).fit(X, y)
        assert model.net_.history[:, "torch_threads"] == [1, 1, 1]
        assert torch.get_num_threads() == 2
        seen = []
        outputs = model.model_.network_outputs

        def counted(*args, **kwargs):
            seen.append(torch.get_num_threads())
            return outputs(*args, **kwargs)

        monkeypatch.setattr(model.model_, "network_outputs", counted)
        model.predict(X)
        assert seen == [1]
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_parallel_fits_do_not_oversubscribe_the_cores(data):
    """joblib's worker processes start with their share of the cores, which torch takes up
    when n_threads is None."""
    X, y = data
    model = small(max_epochs=1, callbacks=[ThreadCount()])
    fits = cross_validate(model, X, y, cv=2, n_jobs=2, return_estimator=True)
    for fitted in fits["estimator"]:
        threads = fitted.net_.history[-1, "torch_threads"]
        assert threads * 2 <= max(2, joblib.cpu_count())


def test_n_threads_is_checked_and_saved(tmp_path):
    with pytest.raises(ValueError, match="'n_threads' parameter"):
        small(n_threads=0).fit(np.zeros((2, 2)), np.zeros(2))
    folder = MultiTaskRecommender(n_threads=3).save(tmp_path / "model")
    assert skmtrec.load(folder).n_threads == 3
    # a model saved before the parameter existed loads with its default
    estimator_file = folder / "estimator.json"
    saved = json.loads(estimator_file.read_text())
    assert saved["estimator"]["state"]["params"].pop("n_threads") == 3
    estimator_file.write_text(json.dumps(saved))
    assert skmtrec.load(folder).n_threads is None
