"""Optuna tunes the title Pipeline: pruning by epoch, a resumable SQLite study, two processes."""

import subprocess
import sys

import optuna
import pytest

from .test_examples import EXAMPLES, load

example = load("optuna_text_pipeline")


@pytest.fixture(scope="module")
def data(movielens):
    return example.holdout(rows=6000)


def test_study_prunes_a_bad_trial_and_resumes_from_sqlite(tmp_path, data):
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    study = example.load_study(storage)
    good = {"n_components": 16, "embedding_dim": 32, "weight_decay": 2.0, "dropout": 0.1}
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
    workers = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [w.communicate(timeout=600) for w in workers]
    for worker, (_out, err) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, err[-2000:]
    study = example.load_study(storage)
    assert sorted(t.number for t in study.trials) == [0, 1, 2, 3]
    assert all(t.state.is_finished() for t in study.trials)
    assert list((tmp_path / "embeddings").glob("*.sqlite"))
