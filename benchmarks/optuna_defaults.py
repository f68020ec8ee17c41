"""The study behind the defaults: Optuna over the five MovieLens 100K folds, validation only.

Each trial fits ``MultiTaskRecommender(tasks={"rating": "regression", "interacted":
"implicit"})`` with the trial's parameters on each fold's u<k>.base less 15% of its rows (seed
0) and scores those held-out rows: rating RMSE (clipped to 1-5) and NDCG@10 (relevant: a
held-out rating >= 4; every item the user did not rate in the fitted rows is ranked). The
objective, maximized, is NDCG@10 minus RMSE, averaged over the folds: one number for a model
that both rates and ranks. The test files u<k>.test are never read.

Each fold is scikit-learn's ``cross_validate`` with the two scorers, over the rows of
``load_movielens_100k(return_X_y=True)``; one fold a call, so that after each fold the trial
reports its running mean and the median pruner stops one that trails the completed trials
before its next fit (a trial with every fold done is kept). ``OptunaSearchCV`` does not fit
here: it takes one scorer, searches only parameters that are plain values (not a head object
with its dropout), and prunes over ``partial_fit`` iterations, not folds.

The first trial is the estimator's defaults, so the study says whether anything it found beats
them. The study lives in memory unless ``--storage`` names a database: then a second run
resumes it, and several processes can add trials at once (``--n-trials 0`` first creates it,
so that workers do not race to create its tables):

    SKMTREC_DATA=../shared/data python benchmarks/optuna_defaults.py \\
        --storage sqlite:///skmtrec-defaults.db --n-trials 20
"""

from __future__ import annotations

import argparse
import warnings
from functools import partial

import numpy as np
import optuna
import pandas as pd
from sklearn.model_selection import cross_validate, train_test_split

from skmtrec import PLE, ColdStart, MMoE, MultiTaskRecommender, SharedBottom, make_task_scorer
from skmtrec.datasets import load_movielens_100k
from skmtrec.metrics import make_ranking_scorer

TASKS = {"rating": "regression", "interacted": "implicit"}
SCORING = {
    "rmse": make_task_scorer("rating", "rmse", clip=(1, 5)),  # negated: greater is better
    "ndcg": make_ranking_scorer("ndcg", k=10, relevance=("rating", 4)),
}
SEARCHED = (
    "architecture",
    "task_balancing",
    "user_history",
    "item_history",
    "embedding_dim",
    "negative_ratio",
    "id_dropout",
    "weight_decay",
    "lr",
    "dropout",
)
HEADS = {"shared_bottom": SharedBottom, "mmoe": MMoE, "ple": PLE}


def _defaults() -> dict:
    """The estimator's defaults in the trial's names: the head by name, the dropout of that
    head's object and the id dropout of ``ColdStart``, all read off the estimator."""
    params = MultiTaskRecommender().get_params()
    cold = ColdStart() if params["cold_start"] is None else params["cold_start"]
    params["dropout"] = HEADS[params["architecture"]]().dropout
    params["id_dropout"] = cold.id_dropout
    return {name: params[name] for name in SEARCHED}


# The estimator's defaults, as the first trial.
DEFAULTS = _defaults()


def folds(numbers=(1, 2, 3, 4, 5), rows: int | None = None, seed: int = 0) -> tuple:
    """``(X, y, splits)``: every rating, and per fold the positions in ``X`` of the rows to fit
    and of those held out, 15% of u<k>.base (of ``rows`` sampled), as ``cross_validate``'s
    ``cv`` takes them."""
    X, y = load_movielens_100k(return_X_y=True)
    position = pd.MultiIndex.from_frame(X[["user_id", "item_id"]])
    splits = []
    for k in numbers:
        base = load_movielens_100k(fold=k).train
        if rows is not None:
            base = base.sample(rows, random_state=seed)
        fit, held_out = train_test_split(base, test_size=0.15, random_state=seed)
        splits.append(
            tuple(
                position.get_indexer(pd.MultiIndex.from_frame(part[["user_id", "item_id"]]))
                for part in (fit, held_out)
            )
        )
    return X, y, splits


def suggest(trial: optuna.Trial) -> dict:
    """The search space: every parameter the defaults set, around the choices benchmarked,
    by the names the study records (``estimator_params`` maps them to the estimator's)."""
    return {
        "architecture": trial.suggest_categorical("architecture", ["shared_bottom", "mmoe", "ple"]),
        "task_balancing": trial.suggest_categorical(
            "task_balancing", ["fixed", "uncertainty", "gradnorm", "dwa"]
        ),
        "user_history": trial.suggest_categorical("user_history", [True, False]),
        "item_history": trial.suggest_categorical("item_history", [True, False]),
        "embedding_dim": trial.suggest_categorical("embedding_dim", [32, 64, 128]),
        "negative_ratio": trial.suggest_categorical("negative_ratio", [4, 8, 16]),
        "id_dropout": trial.suggest_float("id_dropout", 0.0, 0.3),
        "weight_decay": trial.suggest_float("weight_decay", 0.25, 8.0, log=True),
        "lr": trial.suggest_float("lr", 5e-4, 8e-3, log=True),
        "dropout": trial.suggest_float("dropout", 0.0, 0.3),
    }


def estimator_params(params: dict) -> dict:
    """A trial's parameters as the estimator takes them: the head's object with the trial's
    dropout, ``ColdStart`` with its id dropout; their other fields at their defaults."""
    params = dict(params)
    head = HEADS[params.pop("architecture")](dropout=params.pop("dropout"))
    cold = ColdStart(id_dropout=params.pop("id_dropout"))
    return {**params, "architecture": head, "cold_start": cold}


def objective(trial: optuna.Trial, data: tuple, max_epochs: int = 50) -> float:
    """Mean over the folds of NDCG@10 - RMSE; ``data`` as :func:`folds` gives it."""
    X, y, splits = data
    params = estimator_params(suggest(trial))
    model = MultiTaskRecommender(TASKS, max_epochs=max_epochs, random_state=0, **params)
    scores = []
    for step, split in enumerate(splits):
        fold = cross_validate(model, X, y, cv=[split], scoring=SCORING, error_score="raise")
        rmse, ndcg = -float(fold["test_rmse"][0]), float(fold["test_ndcg"][0])
        trial.set_user_attr(f"fold{step + 1}", {"rmse": rmse, "ndcg": ndcg})
        scores.append(ndcg - rmse)
        if step + 1 < len(splits):  # once every fold is done, the trial's work is kept
            trial.report(float(np.mean(scores)), step)
            if trial.should_prune():
                raise optuna.TrialPruned()
    return float(np.mean(scores))


def load_study(storage: str | None = None, study_name: str = "defaults") -> optuna.Study:
    """Create the study (in memory, or in the database ``storage`` names) with the defaults as
    its first trial, or load it from that database."""
    if storage is not None and storage.startswith("sqlite:"):
        # writers from several processes wait for the lock instead of failing
        storage = optuna.storages.RDBStorage(
            storage, engine_kwargs={"connect_args": {"timeout": 60}}
        )
    study = optuna.create_study(
        storage=storage,
        study_name=study_name,
        direction="maximize",
        load_if_exists=True,
        sampler=optuna.samplers.TPESampler(seed=0),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=0),
    )
    if not study.trials:
        study.enqueue_trial(DEFAULTS)
    return study


def save_history(study: optuna.Study, path: str):
    """The study's objective per trial and its best so far, as a PNG (matplotlib); returns
    the figure."""
    import matplotlib

    matplotlib.use("Agg")
    from optuna.visualization.matplotlib import plot_optimization_history

    with warnings.catch_warnings():  # optuna marks its matplotlib plots experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        ax = plot_optimization_history(study, target_name="mean over folds of NDCG@10 - RMSE")
    ax.legend(loc="best")  # inside the axes: optuna puts it to their right, off the figure
    ax.figure.tight_layout()
    ax.figure.savefig(path, dpi=110)
    return ax.figure


def summary(study: optuna.Study) -> str:
    states = [t.state.name for t in study.trials]
    line = f"{len(states)} trials ({states.count('COMPLETE')} complete, "
    line += f"{states.count('PRUNED')} pruned)"
    if "COMPLETE" in states:
        best = study.best_trial
        folds = best.user_attrs.values()
        rmse = np.mean([f["rmse"] for f in folds])
        ndcg = np.mean([f["ndcg"] for f in folds])
        which = "the defaults" if best.number == 0 else f"trial {best.number}"
        line += (
            f"; best: {which}, NDCG@10 - RMSE {best.value:.4f} (RMSE {rmse:.4f}, "
            f"NDCG@10 {ndcg:.4f}) with {best.params}"
        )
    return line


def main(argv=None) -> optuna.Study:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--storage",
        default=None,
        help="a database URL (sqlite:///defaults.db, postgresql+psycopg://...) that keeps the "
        "study, to resume it or share it among processes; in memory if not given",
    )
    parser.add_argument("--study-name", default="defaults")
    parser.add_argument("--n-trials", type=int, default=20)
    parser.add_argument("--folds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--rows", type=int, default=None, help="subsample each u<k>.base")
    parser.add_argument("--max-epochs", type=int, default=50)
    parser.add_argument("--timeout", type=float, default=None, help="seconds for this run")
    parser.add_argument("--quiet", action="store_true", help="no progress bar over the trials")
    parser.add_argument("--figure", default=None, help="save the study's history as this PNG")
    args = parser.parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = load_study(args.storage, args.study_name)
    data = folds(args.folds, args.rows)
    study.optimize(
        partial(objective, data=data, max_epochs=args.max_epochs),
        n_trials=args.n_trials,
        timeout=args.timeout,
        show_progress_bar=not args.quiet,
    )
    print(summary(study))
    if args.figure is not None and study.trials:
        save_history(study, args.figure)
    return study


if __name__ == "__main__":
    main()
