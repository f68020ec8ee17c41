"""Tune the title Pipeline with Optuna: pruning by epoch, a study kept in an RDB storage.

Each trial fits the Pipeline of ``text_pipeline.py`` on part of u1.base and is scored by rating
RMSE on the rest; Optuna's ``SkorchPruningCallback`` reports the net's validation loss every
epoch, so the median pruner stops bad trials early. The study lives in the storage URL, so a
second run resumes it and several processes can add trials to it at once (create the study
first, e.g. with ``--n-trials 0``, so that the workers do not race to create its tables):

    SKMTREC_DATA=../shared/data python examples/optuna_text_pipeline.py \\
        --storage sqlite:///titles.db --n-trials 20
"""

from __future__ import annotations

import argparse
import sys
from functools import partial
from pathlib import Path

import optuna
from optuna_integration import SkorchPruningCallback

from skmtrec import MMoE, make_task_scorer
from skmtrec.datasets import load_movielens_100k

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling example, from anywhere
from text_pipeline import make_text_pipeline, movielens_xy

RMSE = make_task_scorer("rating", "rmse", clip=(1, 5))


def holdout(rows: int | None = None, seed: int = 0):
    """u1.base, optionally subsampled, split 80/20 at random into fit and validation rows."""
    train = load_movielens_100k(fold=1).train
    if rows is not None:
        train = train.sample(rows, random_state=seed)
    valid = train.sample(frac=0.2, random_state=seed)
    return movielens_xy(train.drop(valid.index)), movielens_xy(valid)


def objective(trial: optuna.Trial, data, max_epochs: int = 30, cache_dir=None) -> float:
    (X_fit, y_fit), (X_valid, y_valid) = data
    pipeline = make_text_pipeline(
        content_components=trial.suggest_categorical("content_components", [8, 16, 32]),
        embedding_dim=trial.suggest_categorical("embedding_dim", [16, 32, 64]),
        lr=trial.suggest_float("lr", 3e-4, 1e-2, log=True),
        weight_decay=trial.suggest_float("weight_decay", 0.1, 4.0, log=True),
        architecture=MMoE(dropout=trial.suggest_float("dropout", 0.0, 0.4)),  # the default head
        max_epochs=max_epochs,
        callbacks=[SkorchPruningCallback(trial, "valid_loss")],
    )
    pipeline.set_params(features__title__cache_dir=cache_dir)
    pipeline.fit(X_fit, y_fit)
    return -RMSE(pipeline, X_valid, y_valid)


def load_study(storage: str, study_name: str = "titles") -> optuna.Study:
    """Create the study in ``storage``, or load it to resume."""
    if storage.startswith("sqlite:"):
        # writers from several processes wait for the lock instead of failing
        storage = optuna.storages.RDBStorage(
            storage, engine_kwargs={"connect_args": {"timeout": 60}}
        )
    return optuna.create_study(
        storage=storage,
        study_name=study_name,
        direction="minimize",
        load_if_exists=True,
        sampler=optuna.samplers.TPESampler(seed=0),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1),
    )


def run(
    storage: str,
    n_trials: int,
    *,
    study_name="titles",
    rows=None,
    max_epochs=30,
    cache_dir=None,
    progress=False,
) -> optuna.Study:
    study = load_study(storage, study_name)
    data = holdout(rows)
    study.optimize(
        partial(objective, data=data, max_epochs=max_epochs, cache_dir=cache_dir),
        n_trials=n_trials,
        show_progress_bar=progress,
    )
    return study


def main(argv=None) -> optuna.Study:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--storage", default="sqlite:///skmtrec-titles.db")
    parser.add_argument("--study-name", default="titles")
    parser.add_argument("--n-trials", type=int, default=20)
    parser.add_argument("--rows", type=int, default=None, help="subsample u1.base")
    parser.add_argument("--max-epochs", type=int, default=30)
    parser.add_argument("--cache-dir", type=Path, default=None, help="embedding cache on disk")
    parser.add_argument("--quiet", action="store_true", help="no progress bar over the trials")
    args = parser.parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = run(
        args.storage,
        args.n_trials,
        study_name=args.study_name,
        rows=args.rows,
        max_epochs=args.max_epochs,
        cache_dir=args.cache_dir,
        progress=not args.quiet,
    )
    states = [t.state.name for t in study.trials]
    summary = f"{len(states)} trials ({states.count('COMPLETE')} complete, "
    summary += f"{states.count('PRUNED')} pruned)"
    if "COMPLETE" in states:
        summary += f"; best RMSE {study.best_value:.4f} with {study.best_params}"
    print(summary)
    return study


if __name__ == "__main__":
    main()
