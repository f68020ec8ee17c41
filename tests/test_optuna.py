"""Optuna tunes the title Pipeline: pruning by epoch, a resumable SQLite study, two processes."""

import sys

import optuna
import pytest

from .conftest import run_workers
from .test_examples import BENCHMARKS, EXAMPLES, load

example = load("optuna_text_pipeline")


@pytest.fixture(scope="module")
def data(movielens):
    return example.holdout(rows=6000)


def test_study_prunes_a_bad_trial_and_resumes_from_sqlite(tmp_path, data):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    study = example.load_study(storage)
    good = {"content_components": 16, "embedding_dim": 32, "weight_decay": 2.0, "dropout": 0.1}
    study.enqueue_trial({**good, "lr": 3e-3})
    study.enqueue_trial({**good, "lr": 2e-3})
    study.enqueue_trial({**good, "lr": 3e-4, "dropout": 0.4, "weight_decay": 0.1})
    study.optimize(lambda t: example.objective(t, data, max_epochs=8), n_trials=3)
    states = [t.state for t in study.trials]
    assert states[:2] == [optuna.trial.TrialState.COMPLETE] * 2
    assert states[2] == optuna.trial.TrialState.PRUNED
    pruned_at = max(study.trials[2].intermediate_values)
    assert pruned_at < 7  # stopped before its last epoch

    resumed = example.load_study(storage)  # a new handle on the stored study
    assert len(resumed.trials) == 3
    resumed.optimize(lambda t: example.objective(t, data, max_epochs=4), n_trials=1)
    assert len(example.load_study(storage).trials) == 4
    assert resumed.best_value < 1.1


@pytest.mark.slow  # two worker processes
def test_two_processes_add_trials_to_the_same_study(tmp_path, movielens):
    storage = f"sqlite:///{tmp_path / 'shared.db'}"
    example.main(["--storage", storage, "--n-trials", "0"])  # the schema, before the workers
    command = [
        sys.executable,
        str(EXAMPLES / "optuna_text_pipeline.py"),
        "--storage",
        storage,
        "--n-trials",
        "2",
        "--rows",
        "4000",
        "--max-epochs",
        "4",
        "--cache-dir",
        str(tmp_path / "embeddings"),
    ]
    outputs = run_workers(command, 2)
    study = example.load_study(storage)
    assert sorted(t.number for t in study.trials) == [0, 1, 2, 3]
    assert all("2/2" in err for _, err in outputs)  # each worker's progress bar over its trials
    assert all(t.state.is_finished() for t in study.trials)
    assert list((tmp_path / "embeddings").glob("*.sqlite"))


def test_the_defaults_study_starts_from_the_defaults_and_prunes_a_worse_trial(tmp_path, movielens):
    study_example = load("optuna_defaults", BENCHMARKS)
    assert study_example.DEFAULTS["architecture"] == "mmoe"  # read off the estimator
    storage = f"sqlite:///{tmp_path / 'defaults.db'}"
    data = study_example.folds((1, 2), rows=5000)
    study = study_example.load_study(storage)
    worse = {**study_example.DEFAULTS, "lr": 5e-4, "user_history": False, "item_history": False}
    study.enqueue_trial(worse)
    study.optimize(lambda t: study_example.objective(t, data, max_epochs=6), n_trials=2)

    first, second = study.trials
    figure = study_example.save_history(study, str(tmp_path / "history.png"))
    assert (tmp_path / "history.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    figure.canvas.draw()
    ax = figure.axes[0]
    legend, inside = ax.get_legend().get_window_extent(), ax.get_window_extent()
    assert inside.contains(legend.x0, legend.y0) and inside.contains(legend.x1, legend.y1)
    assert first.params == study_example.DEFAULTS
    assert first.state == optuna.trial.TrialState.COMPLETE
    folds = list(first.user_attrs.values())
    assert len(folds) == 2
    # 4,250 fitted rows per fold: the rating's std is 1.13
    assert all(f["rmse"] < 1.1 and 0 < f["ndcg"] < 1 for f in folds), folds
    # behind the defaults' running mean: stopped by the median pruner (measured -1.10 / -0.83)
    assert second.state == optuna.trial.TrialState.PRUNED and second.value < first.value

    resumed = study_example.load_study(storage)  # resuming enqueues nothing more
    assert len(resumed.trials) == 2
    assert "best: the defaults" in study_example.summary(resumed)


def test_the_defaults_study_keeps_a_trial_whose_folds_are_done(tmp_path, movielens, monkeypatch):
    study_example = load("optuna_defaults", BENCHMARKS)
    data = study_example.folds((1,), rows=2000)
    study = study_example.load_study()  # in memory
    worse = {**study_example.DEFAULTS, "lr": 5e-4, "user_history": False, "item_history": False}
    study.enqueue_trial(worse)
    study.optimize(lambda t: study_example.objective(t, data, max_epochs=2), n_trials=2)
    first, second = study.trials
    # behind the defaults, but with its only fold scored: kept, not pruned
    assert second.value < first.value
    assert second.state == optuna.trial.TrialState.COMPLETE and not second.intermediate_values

    # without --storage the study is not written to (nor resumed from) the current folder
    monkeypatch.chdir(tmp_path)
    study_example.main(["--n-trials", "0", "--folds", "1", "--quiet"])
    assert list(tmp_path.iterdir()) == []
