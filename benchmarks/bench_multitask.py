"""Multi-task gain (protocol R4): every head and task-balancing method trained on four tasks at
once, against the same head trained on each task alone, on MovieLens 100K.

Tasks: the rating (regression, RMSE), like = rating >= 4 (binary, ROC AUC), interacted (implicit,
NDCG@10 as in R2) and the movie's genres as a multilabel target of each rating row (micro-F1).
X holds the ids, age, gender and occupation: the genre flags are a target here, not an input.
Every model has embedding_dim=64, no histories and 4 sampled negatives per row (the settings
the saved tables were measured with, before the defaults took histories and 8 negatives) and
the estimator's defaults otherwise (early stopping on a 10% validation split, the same
random_state); the joint models weigh the implicit task 3.

    SKMTREC_DATA=../shared/data python benchmarks/bench_multitask.py              # u1, every setup
    SKMTREC_DATA=../shared/data python benchmarks/bench_multitask.py --folds 1 2 3 4 5 \\
        --heads mmoe --balancing fixed                                          # five folds

Prints a markdown table (per task: the joint model's metric and the single-task model's, mean
over the folds run) and writes it to benchmarks/results/multitask.md. Each fold's scores and
seconds are also kept in benchmarks/results/multitask_u<fold>.csv as soon as the fold is done,
so that the five folds (about 30 minutes each on 2 cores) can be run one at a time, alone on the
machine, and tabled together:

    SKMTREC_DATA=../shared/data python benchmarks/bench_multitask.py --folds 2   # one fold
    python benchmarks/bench_multitask.py --folds 1 2 3 4 5 --saved              # the table

Fit-time ratios are taken within each fold's run, then averaged.

With ``--defaults`` every model is the estimator at its defaults (``random_state=0`` only: MMoE,
uncertainty weighting, histories, 8 negatives, the implicit task weighing 3), the joint model
on the four tasks against one model per task; the table gives each task's mean and spread over
the folds and the paired difference, fold by fold, with its standard error; a task is worse
beyond the fold-to-fold noise where its mean loss exceeds two standard errors:

    SKMTREC_DATA=../shared/data python benchmarks/bench_multitask.py --defaults --folds 1 2 3 4 5

``--joint '{"param": value}'`` then refits only the joint model with those parameters over the
defaults, against the saved models alone. ``--validation`` scores every model on 15% of the
training fold held out instead of the test fold, for choosing a setting.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import f1_score, roc_auc_score, root_mean_squared_error
from sklearn.preprocessing import MultiLabelBinarizer
from sklearn.utils import Bunch

from skmtrec import MultiTaskRecommender
from skmtrec.datasets import GENRES, load_movielens_100k

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, r2_metrics, skmtrec_lists, write
from _peers import VALIDATION_SHARE

TASKS = {
    "rating": "regression",
    "like": "binary",
    "interacted": "implicit",
    "genres": "multilabel",
}
METRICS = {"rating": "RMSE", "like": "ROC AUC", "interacted": "NDCG@10", "genres": "micro-F1"}
LOWER_IS_BETTER = {"rating"}
BASE = {
    "embedding_dim": 64,
    "user_history": False,
    "item_history": False,
    "negative_ratio": 4,
    "random_state": 0,
}
HEADS = ("shared_bottom", "mmoe", "ple")
BALANCING = ("fixed", "uncertainty", "gradnorm", "dwa")


def xy(frame: pd.DataFrame):
    X = frame[["user_id", "item_id", "age", "gender", "occupation"]]
    flags = frame[list(GENRES)].to_numpy().astype(bool)
    genres = [tuple(g for g, on in zip(GENRES, row, strict=True) if on) for row in flags]
    y = pd.DataFrame(
        {
            "rating": frame["rating"].to_numpy(dtype=float),
            "like": (frame["rating"] >= 4).to_numpy(dtype=float),
            "genres": pd.Series(genres, index=frame.index, dtype=object),
        },
        index=frame.index,
    )
    return X, y


def evaluate(model, data, tasks) -> dict[str, float]:
    X_test, y_test = xy(data.test)
    out = {}
    if "rating" in tasks or "like" in tasks or "genres" in tasks:
        pred = model.predict_tasks(X_test)
    if "rating" in tasks:
        rating = np.clip(pred["rating"].to_numpy(dtype=float), 1, 5)
        out["rating"] = root_mean_squared_error(y_test["rating"], rating)
    if "like" in tasks:
        out["like"] = roc_auc_score(y_test["like"], model.predict_proba(X_test, task="like")[:, 1])
    if "interacted" in tasks:
        items = np.sort(data.ratings["item_id"].unique())
        out["interacted"] = r2_metrics(skmtrec_lists(model, data.test), data.test, items)["ndcg"]
    if "genres" in tasks:
        binarizer = MultiLabelBinarizer(classes=list(GENRES)).fit([])
        truth = binarizer.transform(y_test["genres"])
        out["genres"] = f1_score(truth, binarizer.transform(pred["genres"]), average="micro")
    return out


def fit(params, tasks, X, y, base=BASE):
    model = MultiTaskRecommender(tasks={t: TASKS[t] for t in tasks}, **base, **params)
    targets = y[[t for t in tasks if t != "interacted"]]
    start = time.perf_counter()
    model.fit(X, targets if targets.shape[1] else None)
    return model, time.perf_counter() - start


COLUMNS = ["fold", "head", "setup", "task", "score", "s"]
RESULTS = Path(__file__).resolve().parent / "results"


def run(folds, heads, balancings) -> pd.DataFrame:
    torch.set_num_threads(2)
    runs = []
    for fold in folds:
        rows = run_fold(fold, heads, balancings)
        keep(rows, RESULTS / f"multitask_u{fold}.csv")
        runs.append(rows)
    return pd.concat(runs, ignore_index=True)


def run_defaults(
    folds, from_saved: bool, joint: dict | None = None, validation: bool = False
) -> pd.DataFrame:
    """R4 at the defaults: each fold fitted (and saved) or read back from its saved run. With
    ``joint`` (parameters over the defaults), only the joint model is fitted, with them, and
    each task alone is read back from the defaults' saved run of the fold."""
    torch.set_num_threads(2)
    runs = []
    for fold in folds:
        path = _defaults_path(fold, validation=validation)
        if from_saved or joint is not None:
            if not path.exists():
                raise SystemExit(f"{path} is missing: run --defaults --folds {fold} first.")
            rows = pd.read_csv(path)
        if joint is not None:
            joint_path = _defaults_path(fold, joint, validation)
            if from_saved:
                if not joint_path.exists():
                    raise SystemExit(f"{joint_path} is missing: run it without --saved first.")
                fitted = pd.read_csv(joint_path)
            else:
                fitted = run_defaults_fold(fold, ("joint",), joint, validation)
                fitted.to_csv(joint_path, index=False)
            rows = pd.concat([rows[rows["setup"] == "alone"], fitted], ignore_index=True)
        elif not from_saved:
            rows = run_defaults_fold(fold, validation=validation)
            path.parent.mkdir(exist_ok=True)
            rows.to_csv(path, index=False)
        runs.append(rows)
    return pd.concat(runs, ignore_index=True)


def _defaults_path(fold: int, joint: dict | None = None, validation: bool = False) -> Path:
    name = "_validation" if validation else ""
    name += "" if joint is None else "_joint_" + "_".join(f"{k}-{joint[k]}" for k in sorted(joint))
    name = "".join(c if c.isalnum() or c in "_-." else "" for c in name)
    return RESULTS / f"multitask_defaults{name}_u{fold}.csv"


def keep(rows: pd.DataFrame, path: Path) -> None:
    """Save a fold's rows, replacing only the setups this run fitted."""
    if path.exists():
        old = pd.read_csv(path)
        refitted = pd.MultiIndex.from_frame(old[["head", "setup"]]).isin(
            pd.MultiIndex.from_frame(rows[["head", "setup"]])
        )
        rows = pd.concat([old[~refitted], rows], ignore_index=True)
    path.parent.mkdir(exist_ok=True)
    rows.to_csv(path, index=False)


def saved(folds, heads, balancings) -> pd.DataFrame:
    runs = []
    for fold in folds:
        path = RESULTS / f"multitask_u{fold}.csv"
        if not path.exists():
            raise SystemExit(f"{path} is missing: run --folds {fold} first.")
        runs.append(pd.read_csv(path))
    rows = pd.concat(runs, ignore_index=True)
    for head in heads:
        for setup in ["alone", *balancings]:
            have = set(rows.loc[(rows["head"] == head) & (rows["setup"] == setup), "fold"])
            if missing := sorted(set(folds) - have):
                raise SystemExit(f"{head}/{setup} was not run on fold(s) {missing}.")
    return rows[rows["head"].isin(heads) & rows["setup"].isin(["alone", *balancings])]


def run_fold(fold, heads, balancings) -> pd.DataFrame:
    rows = []
    data = load_movielens_100k(fold=fold)
    X, y = xy(data.train)
    for head in heads:
        for task in TASKS:
            model, seconds = fit({"architecture": head, "task_balancing": "fixed"}, [task], X, y)
            score = evaluate(model, data, [task])[task]
            rows.append((fold, head, "alone", task, score, seconds))
            print(f"u{fold} {head} alone {task}: {score:.4f} ({seconds:.1f} s)", flush=True)
        for balancing in balancings:
            params = {
                "architecture": head,
                "task_balancing": balancing,
                "task_weights": {"interacted": 3.0},
            }
            model, seconds = fit(params, list(TASKS), X, y)
            scores = evaluate(model, data, list(TASKS))
            for task, score in scores.items():
                rows.append((fold, head, balancing, task, score, seconds))
            print(f"u{fold} {head} {balancing}: {scores} ({seconds:.1f} s)", flush=True)
    return pd.DataFrame(rows, columns=COLUMNS)


def run_defaults_fold(
    fold: int, setups=("alone", "joint"), joint: dict | None = None, validation: bool = False
) -> pd.DataFrame:
    """One fold of R4 at the defaults: each task alone, then the four together (with
    ``joint``'s parameters over the defaults); with ``validation``, on the validation split
    of the fold's training rows instead of its test rows."""
    rows = []
    data = load_movielens_100k(fold=fold)
    if validation:
        data = validation_split(data)
    X, y = xy(data.train)
    base = {"random_state": 0}
    task_sets = {"alone": [[t] for t in TASKS], "joint": [list(TASKS)]}
    for setup in setups:
        for tasks in task_sets[setup]:
            params = (joint or {}) if setup == "joint" else {}
            model, seconds = fit(params, tasks, X, y, base=base)
            scores = evaluate(model, data, tasks)
            for task, score in scores.items():
                rows.append((fold, "defaults", setup, task, score, seconds))
            history = model.net_.history
            best = max(i for i, row in enumerate(history, 1) if row.get("valid_loss_best"))
            print(
                f"u{fold} defaults {setup}: {scores} ({seconds:.1f} s, {len(history)} epochs, "
                f"best {best})",
                flush=True,
            )
    return pd.DataFrame(rows, columns=COLUMNS)


def validation_split(data, share: float = VALIDATION_SHARE, seed: int = 0):
    """The fold's training rows as train and validation: ``share`` of them held out at random,
    then only those whose user and item remain in train (the test fold is never read)."""
    rows = data.train.reset_index(drop=True)
    held = np.random.RandomState(seed).rand(len(rows)) < share
    train, valid = rows[~held], rows[held]
    valid = valid[valid["user_id"].isin(train["user_id"]) & valid["item_id"].isin(train["item_id"])]
    return Bunch(
        train=train.reset_index(drop=True), test=valid.reset_index(drop=True), ratings=rows
    )


def defaults_table(
    results: pd.DataFrame, joint: dict | None = None, validation: bool = False
) -> str:
    """Per task: joint and alone over the folds (mean, spread) and the paired difference."""
    folds = sorted(results["fold"].unique())
    scores = results.pivot_table(index=["task", "fold"], columns="setup", values="score")
    # a joint fit's seconds are on each of its four rows; each model alone has one row
    by_fold = results.groupby(["setup", "fold"])["s"]
    seconds = {"joint": by_fold.first().loc["joint"], "alone": by_fold.sum().loc["alone"]}
    lines = [
        f"R4 at the defaults on MovieLens 100K, {'u' + ', u'.join(map(str, folds))}"
        f"{' (the validation split of each training fold)' if validation else ''}: the joint "
        "model on four tasks against one model per task, every model "
        f"`MultiTaskRecommender(tasks, random_state=0)`"
        f"{f'; the joint model also with {joint}' if joint else ''}. {machine()}.",
        "",
        "| task | metric | joint: mean (min-max) | alone: mean (min-max) | joint better by, "
        "mean of folds | standard error | folds joint better | verdict |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for task in TASKS:
        frame = scores.loc[task]
        sign = -1 if task in LOWER_IS_BETTER else 1
        gain = 100 * sign * (frame["joint"] - frame["alone"]) / frame["alone"]
        error = gain.std(ddof=1) / np.sqrt(len(gain)) if len(gain) > 1 else float("nan")
        cells = [
            f"{frame[s].mean():.4f} ({frame[s].min():.4f}-{frame[s].max():.4f})"
            for s in ("joint", "alone")
        ]
        lines.append(
            f"| {task} | {METRICS[task]} | {' | '.join(cells)} | {gain.mean():+.2f}% | "
            f"{error:.2f}% | {int((gain > 0).sum())} of {len(gain)} | "
            f"{_verdict(gain.mean(), error)} |"
        )
    lines += [
        "",
        f"Fit seconds, sum over the folds: joint {seconds['joint'].sum():.0f}, the four models "
        f"alone {seconds['alone'].sum():.0f}.",
    ]
    return "\n".join(lines)


def _verdict(gain: float, error: float) -> str:
    """Beyond the fold-to-fold noise: the mean difference more than two standard errors of the
    paired differences from 0 (one fold has no error, so no verdict)."""
    if np.isnan(error):
        return "one fold: no verdict"
    if gain + 2 * error < 0:
        return "worse beyond noise"
    if gain - 2 * error > 0:
        return f"better beyond noise{', by 1% or more' if gain >= 1 else ''}"
    return "within noise"


def table(results: pd.DataFrame) -> str:
    folds = sorted(results["fold"].unique())
    means = results.groupby(["head", "setup", "task"])[["score", "s"]].mean()
    # each setup's seconds over shared_bottom/fixed's in the same fold's run, then the mean
    seconds = results.groupby(["head", "setup", "fold"])["s"].mean().unstack("fold")
    ratios = None
    if ("shared_bottom", "fixed") in seconds.index:
        ratios = (seconds / seconds.loc[("shared_bottom", "fixed")]).mean(axis=1)
    header = " | ".join(f"{t} {METRICS[t]} (alone)" for t in TASKS)
    lines = [
        f"R4 on MovieLens 100K, {'u' + ', u'.join(map(str, folds))} (mean over folds); every "
        f"model embedding_dim=64, no histories, 4 negatives, random_state=0 (single-task models: "
        f"fixed weights); joint models weigh the "
        f"implicit task 3. {machine()}.",
        "",
        f"| head | balancing | {header} | tasks better by 1% / worse | fit seconds"
        f"{' (x shared_bottom/fixed)' if ratios is not None else ''} |",
        "| --- | --- | " + " | ".join("---" for _ in TASKS) + " | --- | --- |",
    ]
    for head in results["head"].unique():
        for setup in [s for s in results["setup"].unique() if s != "alone"]:
            if (head, setup) not in means.index.droplevel(2):
                continue
            cells, better, worse = [], 0, 0
            for task in TASKS:
                joint = means.loc[(head, setup, task), "score"]
                alone = means.loc[(head, "alone", task), "score"]
                gain = (alone - joint if task in LOWER_IS_BETTER else joint - alone) / alone
                better += gain >= 0.01
                worse += gain < 0
                cells.append(f"{joint:.4f} ({alone:.4f})")
            fit_seconds = means.loc[(head, setup), "s"].mean()
            ratio = f" ({ratios.loc[(head, setup)]:.2f}x)" if ratios is not None else ""
            lines.append(
                f"| {head} | {setup} | {' | '.join(cells)} | {better} / {worse} | "
                f"{fit_seconds:.1f}{ratio} |"
            )
    return "\n".join(lines)


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folds", type=int, nargs="+", default=[1])
    parser.add_argument("--heads", nargs="+", default=list(HEADS), choices=HEADS)
    parser.add_argument("--balancing", nargs="+", default=list(BALANCING), choices=BALANCING)
    parser.add_argument(
        "--saved", action="store_true", help="table the folds' saved results, fit nothing"
    )
    parser.add_argument(
        "--defaults", action="store_true", help="every model at the defaults, joint against alone"
    )
    parser.add_argument(
        "--validation",
        action="store_true",
        help="with --defaults: score on 15%% of each training fold held out, not the test fold",
    )
    parser.add_argument(
        "--joint",
        type=json.loads,
        help="with --defaults: parameters of the joint model over the defaults, as JSON",
    )
    args = parser.parse_args(argv)
    if args.defaults:
        rows = run_defaults(args.folds, args.saved, args.joint, args.validation)
        return write(defaults_table(rows, args.joint, args.validation), "multitask_defaults.md")
    rows = (saved if args.saved else run)(args.folds, args.heads, args.balancing)
    result = table(rows)
    name = "multitask.md" if args.folds == [1] else "multitask_folds.md"
    return write(result, name)


if __name__ == "__main__":
    main()
