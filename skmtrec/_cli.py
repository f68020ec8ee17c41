"""The ``skmtrec`` command: fit, predict, recommend and evaluate from CSV or Parquet files.

    skmtrec fit train.csv --task rating:regression --task interacted:implicit --model model/
    skmtrec predict model/ test.csv --out predictions.csv
    skmtrec recommend model/ --users test.csv --k 10 --out top10.csv
    skmtrec evaluate model/ test.csv --relevance rating:4 --clip rating:1:5

Models are kept in the safe format of ``skmtrec.save`` (JSON, npz and safetensors).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ._persistence import load, save
from .metrics import make_ranking_scorer, make_task_scorer

_RANKING = ("ndcg", "recall", "hit_rate")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        args.run(args)
    except (ValueError, TypeError, KeyError, FileNotFoundError, ImportError) as exc:
        parser.exit(2, f"skmtrec {args.command}: error: {exc}\n")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="skmtrec",
        description="Multi-task recommendation from the command line: fit a model on a table "
        "of interactions, then predict, recommend and evaluate with it.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    fit = commands.add_parser(
        "fit",
        help="fit a model and save it",
        description="Fit a MultiTaskRecommender on a table of interactions (CSV or Parquet) "
        "and save it in the safe format. The task columns are the labels; every other column "
        "(but --drop) is a feature.",
    )
    fit.add_argument("data", type=Path, help="training interactions, .csv or .parquet")
    fit.add_argument(
        "--task",
        dest="tasks",
        action="append",
        required=True,
        metavar="NAME:KIND",
        help="a task, e.g. rating:regression, like:binary, genre:multiclass, "
        "interacted:implicit (no column needed); repeat for several",
    )
    fit.add_argument("--model", type=Path, required=True, help="folder to save the model to")
    fit.add_argument("--user-col", default="user_id", help="user id column (default: user_id)")
    fit.add_argument("--item-col", default="item_id", help="item id column (default: item_id)")
    fit.add_argument("--drop", nargs="+", default=[], metavar="COLUMN", help="columns to ignore")
    fit.add_argument(
        "--set",
        dest="params",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a parameter of MultiTaskRecommender, the value read as JSON where it parses "
        "(lr=0.005, tower_units=[32], architecture=ple); repeat for several",
    )
    fit.add_argument("--random-state", type=int, default=0, help="seed (default: 0)")
    fit.add_argument("--verbose", type=int, default=0, help="0: quiet, 1: epochs, 2: bars")
    fit.set_defaults(run=_fit)

    predict = commands.add_parser(
        "predict",
        help="predict every task for a table",
        description="Predict every task for each row of a table with the model's feature "
        "columns; writes the user and item ids and one column per task.",
    )
    _model_argument(predict)
    predict.add_argument("data", type=Path, help="rows to predict, .csv or .parquet")
    predict.add_argument("--out", type=Path, required=True, help="predictions, .csv or .parquet")
    predict.set_defaults(run=_predict)

    recommend = commands.add_parser(
        "recommend",
        help="top-k items per user",
        description="Recommend the top-k items for each user of a table (its user id column and "
        "any user feature columns; one row per user is used), leaving out items each user "
        "interacted with in fit.",
    )
    _model_argument(recommend)
    recommend.add_argument(
        "--users", type=Path, required=True, help="users to recommend for, .csv or .parquet"
    )
    recommend.add_argument("--k", type=int, default=10, help="items per user (default: 10)")
    recommend.add_argument("--task", help="the task whose score ranks (default: the model's)")
    recommend.add_argument(
        "--include-seen", action="store_true", help="keep items the user interacted with in fit"
    )
    recommend.add_argument("--out", type=Path, required=True, help="recommendations file")
    recommend.set_defaults(run=_recommend)

    evaluate = commands.add_parser(
        "evaluate",
        help="task metrics and top-k ranking metrics on a test table",
        description="Score a model on held-out interactions: each task's metrics on the rows "
        "where its label is present (RMSE and MAE for a rating, as in protocol R1), and "
        "NDCG, recall and hit rate at k of each test user's top-k list, items seen in fit "
        "left out (protocol R2 with --relevance rating:4).",
    )
    _model_argument(evaluate)
    evaluate.add_argument("data", type=Path, help="test interactions, .csv or .parquet")
    evaluate.add_argument("--k", type=int, default=10, help="list length (default: 10)")
    evaluate.add_argument(
        "--relevance",
        metavar="TASK:THRESHOLD",
        help="count a test row as relevant only if that task's label is at least the threshold "
        "(default: every test row)",
    )
    evaluate.add_argument(
        "--clip",
        action="append",
        default=[],
        metavar="TASK:LOW:HIGH",
        help="clip a regression task's predictions first, e.g. rating:1:5",
    )
    evaluate.add_argument("--out", type=Path, help="also write the metrics as JSON")
    evaluate.set_defaults(run=_evaluate)
    return parser


# -- commands ------------------------------------------------------------------------------------


def _fit(args) -> None:
    from ._recommender import MultiTaskRecommender

    tasks = dict(_pair(text, "--task", "NAME:KIND") for text in args.tasks)
    data = _read(args.data).drop(columns=args.drop)
    params = dict(_param(text) for text in args.params)
    labels = [name for name in tasks if name in data]
    missing = [n for n, kind in tasks.items() if n not in data and kind != "implicit"]
    if missing:
        raise ValueError(
            f"{args.data} has no column for task(s) {missing}; its columns are "
            f"{list(data.columns)}."
        )
    model = MultiTaskRecommender(
        tasks,
        user_col=args.user_col,
        item_col=args.item_col,
        random_state=args.random_state,
        verbose=args.verbose,
    ).set_params(**params)
    model.fit(data.drop(columns=labels), data[labels] if labels else None)
    save(model, args.model)
    print(f"fitted {len(data)} rows, tasks {list(tasks)}; saved to {args.model}")


def _predict(args) -> None:
    model = load(args.model)
    recommender = _recommender(model)
    data = _read(args.data)
    predictions = recommender.predict_tasks(_features(model, data, args.data))
    ids = [c for c in (recommender.user_col_, recommender.item_col_) if c]
    _write(pd.concat([data[ids], predictions], axis=1), args.out)


def _recommend(args) -> None:
    model = load(args.model)
    recommender = _recommender(model)
    users = _read(args.users)
    user_col = recommender.user_col_
    if user_col not in users:
        raise ValueError(f"{args.users} has no user id column {user_col!r}.")
    wanted = [user_col, *(c for c in recommender.user_features_ if c in users)]
    table = users[wanted].drop_duplicates(user_col).reset_index(drop=True)
    top = recommender.recommend(table, k=args.k, exclude_seen=not args.include_seen, task=args.task)
    _write(top, args.out)


def _evaluate(args) -> None:
    model = load(args.model)
    recommender = _recommender(model)
    data = _read(args.data)
    X = _features(model, data, args.data)
    labels = [name for name in recommender.tasks_ if name in data]
    y = data[labels] if labels else None
    clips = {}
    for text in args.clip:
        task, _, bounds = text.partition(":")
        low, _, high = bounds.partition(":")
        clips[task] = (_number(low, "--clip", text), _number(high, "--clip", text))
    metrics = {}
    for name in labels:
        task = recommender.fitted_tasks_[name]
        for metric in task.metrics:
            scorer = make_task_scorer(name, metric, clip=clips.get(name))
            try:
                value = scorer(model, X, y)
            except ValueError:  # undefined here, e.g. an AUC where the test has one class
                value = np.nan
            metrics[f"{name} {metric}"] = value if task.greater_is_better(metric) else -value
    relevance = None
    if args.relevance:
        task, threshold = _pair(args.relevance, "--relevance", "TASK:THRESHOLD")
        if task not in labels:
            raise ValueError(f"--relevance: {args.data} has no label column {task!r}.")
        relevance = (task, _number(threshold, "--relevance", args.relevance))
    if recommender.user_col_ is not None and recommender.item_col_ is not None:
        for metric in _RANKING:
            scorer = make_ranking_scorer(metric, args.k, relevance=relevance)
            metrics[f"{metric}@{args.k}"] = scorer(model, X, y)
    width = max(map(len, metrics))
    for name, value in metrics.items():
        print(f"{name:<{width}}  {value:.4f}")
    if args.out is not None:
        args.out.write_text(json.dumps({k: float(v) for k, v in metrics.items()}, indent=1))


# -- helpers -------------------------------------------------------------------------------------


def _model_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", type=Path, help="a folder saved by skmtrec fit or save")


def _read(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist.")
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    if path.suffix in (".csv", ".tsv", ".txt"):
        return pd.read_csv(path, sep="\t" if path.suffix == ".tsv" else ",")
    raise ValueError(f"{path}: unknown file type {path.suffix!r}; use .csv, .tsv or .parquet.")


def _write(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)


def _recommender(model):
    """The recommender at the end of a saved model (itself, or a Pipeline's last step)."""
    while hasattr(model, "steps"):
        model = model.steps[-1][1]
    return model


def _features(model, data: pd.DataFrame, path: Path) -> pd.DataFrame:
    """The columns of ``data`` that the model was fitted on, in that order."""
    names = getattr(model, "feature_names_in_", None)
    if names is None:
        raise ValueError("the model was fitted on an array without column names.")
    missing = [c for c in names if c not in data]
    if missing:
        raise ValueError(f"{path} lacks the column(s) {missing} that the model was fitted on.")
    return data[list(names)]


def _pair(text: str, option: str, form: str) -> tuple[str, str]:
    name, sep, value = text.rpartition(":")
    if not sep or not name or not value:
        raise ValueError(f"{option} {text!r}: expected {form}.")
    return name, value


def _param(text: str) -> tuple[str, object]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise ValueError(f"--set {text!r}: expected NAME=VALUE.")
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        parsed = value
    if isinstance(parsed, list):
        parsed = tuple(parsed)
    return name, parsed


def _number(text: str, option: str, whole: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{option} {whole!r}: {text!r} is not a number.") from None
    if not np.isfinite(value):
        raise ValueError(f"{option} {whole!r}: {text!r} is not a finite number.")
    return value


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
