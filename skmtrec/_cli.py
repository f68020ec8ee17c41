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
import signal
import sys
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ._config import with_objects
from ._persistence.save_load import check_target, load, save
from ._pipelines import final_step
from ._training.device import check_device
from .exceptions import TrainingInterruptedWarning
from .metrics import make_ranking_scorer, make_task_scorer

_RANKING = ("ndcg", "recall", "hit_rate")
_TABLES = (".csv", ".tsv", ".parquet")
# errors a user fixes (a bad option, file or parameter): one line on stderr, exit status 2
_USER_ERRORS = (ValueError, TypeError, KeyError, OSError, ImportError, FloatingPointError)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args) or 0
    except KeyboardInterrupt:
        parser.exit(130, f"skmtrec {args.command}: interrupted.\n")
    except _USER_ERRORS as exc:
        message = " ".join(str(exc).split())  # one line, whatever the message
        parser.exit(2, f"skmtrec {args.command}: error: {message}\n")


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
    fit.add_argument(
        "--model",
        type=Path,
        required=True,
        help="folder to save the model to: new, empty, or a model to replace",
    )
    fit.add_argument(
        "--user-col", default="user_id", help="user id column, read as text (default: user_id)"
    )
    fit.add_argument(
        "--item-col", default="item_id", help="item id column, read as text (default: item_id)"
    )
    fit.add_argument("--drop", nargs="+", default=[], metavar="COLUMN", help="columns to ignore")
    fit.add_argument(
        "--set",
        dest="params",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a parameter of MultiTaskRecommender, the value read as JSON where it parses "
        "(lr=0.005, architecture=ple, architecture__tower_units=[32]); repeat for several",
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
    predict.add_argument(
        "--out", type=Path, required=True, help="predictions, .csv, .tsv or .parquet"
    )
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
    recommend.add_argument(
        "--out", type=Path, required=True, help="recommendations, .csv, .tsv or .parquet"
    )
    recommend.set_defaults(run=_recommend)

    evaluate = commands.add_parser(
        "evaluate",
        help="task metrics and top-k ranking metrics on a test table",
        description="Score a model on held-out interactions: each task's metrics on the rows "
        "where its label is present (RMSE and MAE for a rating), and NDCG, recall and hit "
        "rate at k of each test user's top-k list, items seen in fit left out (with "
        "--relevance rating:4, only test ratings of 4 and above count as relevant).",
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
    evaluate.add_argument("--out", type=Path, help="also write the metrics to this .json file")
    evaluate.set_defaults(run=_evaluate)
    return parser


# -- commands ------------------------------------------------------------------------------------


def _fit(args) -> int:
    from ._recommender import MultiTaskRecommender

    tasks = dict(_pair(text, "--task", "NAME:KIND") for text in args.tasks)
    params = dict(_param(text) for text in args.params)
    model = MultiTaskRecommender(
        tasks,
        user_col=args.user_col,
        item_col=args.item_col,
        random_state=args.random_state,
        verbose=args.verbose,
    )
    model.set_params(**{name: value for name, value in params.items() if "__" not in name})
    nested = {name: value for name, value in params.items() if "__" in name}
    model.set_params(**with_objects(model, nested), **nested)
    # what fails fast fails before reading the data and training, not after
    check_target(args.model)
    check_device(model.device)
    data = _read(args.data, [args.user_col, args.item_col]).drop(columns=args.drop)
    labels = [name for name in tasks if name in data]
    missing = [n for n, kind in tasks.items() if n not in data and kind != "implicit"]
    if missing:
        raise ValueError(
            f"{args.data} has no column for task(s) {missing}; its columns are "
            f"{list(data.columns)}."
        )
    X, y = data.drop(columns=labels), (data[labels] if labels else None)
    saved = False
    with _Signals() as signals:
        try:
            with warnings.catch_warnings():
                # the library keeps the epochs an interrupt leaves; the command saves nothing
                warnings.simplefilter("ignore", TrainingInterruptedWarning)
                model.fit(X, y)
            # from here a signal waits for the save to end, so that the report says what is kept
            signals.hold()
            if signals.received is None:
                save(model, args.model)
                saved = True
        except KeyboardInterrupt:
            if signals.received is None:
                raise
    if signals.received is not None:
        stopped = f"skmtrec fit: stopped by {signal.Signals(signals.received).name}"
        if saved:
            print(f"{stopped} while saving; the model was saved to {args.model}.", file=sys.stderr)
        else:
            print(f"{stopped}; nothing was saved to {args.model}.", file=sys.stderr)
        return 128 + signals.received
    print(f"fitted {len(data)} rows, tasks {list(tasks)}; saved to {args.model}")
    return 0


def _predict(args) -> None:
    _check_out(args.out, _TABLES)
    model = load(args.model)
    recommender = final_step(model)
    data = _read(args.data, _text_ids(recommender))
    predictions = recommender.predict_tasks(_features(model, data, args.data))
    ids = [c for c in (recommender.user_col_, recommender.item_col_) if c]
    _write(pd.concat([data[ids], predictions], axis=1), args.out)
    print(f"wrote {len(predictions)} predictions of {list(predictions.columns)} to {args.out}")


def _recommend(args) -> None:
    _check_out(args.out, _TABLES)
    model = load(args.model)
    recommender = final_step(model)
    users = _read(args.users, _text_ids(recommender))
    user_col = recommender.user_col_
    if user_col not in users:
        raise ValueError(f"{args.users} has no user id column {user_col!r}.")
    wanted = [user_col, *(c for c in recommender.user_features_ if c in users)]
    table = users[wanted].drop_duplicates(user_col).reset_index(drop=True)
    top = recommender.recommend(table, k=args.k, exclude_seen=not args.include_seen, task=args.task)
    _write(top, args.out)
    print(f"wrote {len(top)} recommendations for {len(table)} users to {args.out}")


def _evaluate(args) -> None:
    if args.out is not None:
        _check_out(args.out, (".json",))
    model = load(args.model)
    recommender = final_step(model)
    clips = dict(_clip(text, recommender.tasks_) for text in args.clip)
    relevance = None
    if args.relevance:
        task, threshold = _pair(args.relevance, "--relevance", "TASK:THRESHOLD")
        if task not in recommender.tasks_:
            raise ValueError(
                f"--relevance {args.relevance!r}: the model has no task {task!r}; its tasks are "
                f"{list(recommender.tasks_)}."
            )
        relevance = (task, _number(threshold, "--relevance", args.relevance))
    data = _read(args.data, _text_ids(recommender))
    X = _features(model, data, args.data)
    labels = [name for name in recommender.tasks_ if name in data]
    y = data[labels] if labels else None
    if relevance is not None and relevance[0] not in labels:
        raise ValueError(f"--relevance: {args.data} has no label column {relevance[0]!r}.")
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


def _read(path: Path, ids: Sequence = ()) -> pd.DataFrame:
    """The rows of the table at ``path``; in a CSV, the columns ``ids`` as text, so that
    ``007`` and ``7`` stay two ids (Parquet keeps its own types)."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} {'is not a file' if path.exists() else 'does not exist'}.")
    suffix = path.suffix.lower()
    if suffix not in (".parquet", ".csv", ".tsv", ".txt"):
        raise ValueError(f"{path}: unknown file type {path.suffix!r}; use .csv, .tsv or .parquet.")
    try:
        if suffix == ".parquet":
            table = pd.read_parquet(path)
        else:
            sep = "\t" if suffix == ".tsv" else ","
            table = pd.read_csv(path, sep=sep, dtype=dict.fromkeys(ids, str))
    except pd.errors.EmptyDataError:
        raise ValueError(f"{path} is empty.") from None
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"{path} is not UTF-8 text (byte {exc.start}: {exc.reason}); save it as UTF-8."
        ) from None
    except pd.errors.ParserError as exc:
        raise ValueError(f"{path} cannot be read as a table: {exc}") from None
    if table.empty:
        raise ValueError(f"{path} has no rows.")
    return table


def _check_out(path: Path, suffixes: tuple[str, ...]) -> None:
    if path.suffix.lower() not in suffixes:
        raise ValueError(
            f"--out {path}: unknown file type {path.suffix!r}; use {', '.join(suffixes)}."
        )


def _write(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False, sep="\t" if suffix == ".tsv" else ",")


class _Signals:
    """While active, SIGINT and SIGTERM are noted in ``received`` and raised as a
    KeyboardInterrupt, which stops training at once; after ``hold()``, only noted."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._raise = True
        self._previous: dict = {}

    def __enter__(self) -> _Signals:
        if threading.current_thread() is threading.main_thread():  # handlers only go there
            for number in (signal.SIGINT, signal.SIGTERM):
                self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc_info) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)

    def hold(self) -> None:
        self._raise = False

    def _handle(self, number: int, frame) -> None:
        if self.received is None:
            self.received = number
        if self._raise:
            raise KeyboardInterrupt


def _text_ids(recommender) -> list:
    """The model's id columns to read as text: those whose ids were strings in fit, as in any
    model of ``skmtrec fit``. Ids a model learned as numbers (fitted in Python) are read as
    numbers, so that they match."""
    columns = []
    for label, ids in (
        (recommender.user_col_, recommender.user_ids_),
        (recommender.item_col_, recommender.item_ids_),
    ):
        if label is not None and ids.inferred_type == "string":
            columns.append(label)
    return columns


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


def _clip(text: str, tasks: dict[str, str]) -> tuple[str, tuple[float, float]]:
    """``TASK:LOW:HIGH`` of --clip, for a regression task of the model and LOW < HIGH."""
    parts = text.rsplit(":", 2)
    if len(parts) != 3 or not all(parts):
        raise ValueError(f"--clip {text!r}: expected TASK:LOW:HIGH.")
    task, low, high = parts[0], _number(parts[1], "--clip", text), _number(parts[2], "--clip", text)
    if tasks.get(task) != "regression":
        regression = [name for name, kind in tasks.items() if kind == "regression"]
        raise ValueError(
            f"--clip {text!r}: {task!r} is not a regression task of the model; its regression "
            f"tasks are {regression}."
        )
    if not low < high:
        raise ValueError(f"--clip {text!r}: LOW must be below HIGH.")
    return task, (low, high)


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
