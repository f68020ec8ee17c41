"""The ``skmtrec`` command: fit, predict, recommend and evaluate from table files.

    skmtrec fit train.csv --task rating:regression --task interacted:implicit --model model/
    skmtrec predict model/ test.csv --out predictions.csv
    skmtrec recommend model/ --users test.csv --k 10 --out top10.json
    skmtrec evaluate model/ test.csv --relevance rating:4 --clip rating:1:5

Tables are read and written as CSV, TSV, Parquet or JSON (a list of one object per row), by
the file's suffix. Models are kept in the safe format of ``skmtrec.save`` (JSON, npz and
safetensors). Data goes to the files named; the line that says what was done goes to stderr,
and evaluate's table to stdout. Torch, pandas and the model code are imported inside each
command, so that ``--help`` and ``--version`` answer at once.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import json
import math
import signal
import sys
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from . import __version__

if TYPE_CHECKING:
    import pandas as pd

_RANKING = ("ndcg", "recall", "hit_rate")
# the tables read and written, by suffix: JSON is a list of records, one object per row
_TABLES = (".csv", ".tsv", ".parquet", ".json")
_METRICS = (".json",)
# errors a user fixes (a bad option, file or parameter): one line on stderr, exit status 2
_USER_ERRORS = (ValueError, TypeError, KeyError, OSError, ImportError, FloatingPointError)

_EXAMPLES = """\
examples:
  skmtrec fit train.csv --task rating:regression --task interacted:implicit --model model/
  skmtrec predict model/ test.csv --out predictions.csv
  skmtrec recommend model/ --users test.csv --k 10 --out top10.json
  skmtrec evaluate model/ test.csv --relevance rating:4 --clip rating:1:5

Tables are .csv, .tsv, .parquet or .json (a list of one object per row), chosen by suffix.
Files get the data; the line saying what was written goes to stderr."""


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
        description="Multi-task recommendation from the command line: fit a model on a table\n"
        "of interactions (one row per user and item), then predict, recommend and\n"
        "evaluate with it. Each command has its own --help.",
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"skmtrec {__version__}")
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", help="what to do"
    )

    fit = commands.add_parser(
        "fit",
        help="fit a model on a table of interactions and save it",
        description="Fit a MultiTaskRecommender on a table of interactions and save it to a "
        "folder. The task columns are the labels; every other column (but --drop) is a "
        "feature. Prints one line when the model is saved.",
    )
    fit.add_argument("data", type=Path, help=f"training interactions ({_suffixes(_TABLES)})")
    fit.add_argument(
        "--task",
        dest="tasks",
        action="append",
        required=True,
        metavar="NAME:KIND",
        help="a column to learn and its kind: regression (a number, e.g. a rating), binary "
        "(yes/no), multiclass (one of several labels), or implicit (NAME needs no column: "
        "learns which items each user interacted with, for ranking); repeat for several, "
        "e.g. --task rating:regression --task clicked:implicit",
    )
    fit.add_argument(
        "--model",
        type=Path,
        required=True,
        help="folder to save the model to: new, empty, or holding a model to replace",
    )
    fit.add_argument(
        "--user-col", default="user_id", help="user id column, read as text (default: user_id)"
    )
    fit.add_argument(
        "--item-col", default="item_id", help="item id column, read as text (default: item_id)"
    )
    fit.add_argument(
        "--drop", nargs="+", default=[], metavar="COLUMN", help="columns to leave out of the model"
    )
    fit.add_argument(
        "--set",
        dest="params",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set a parameter of MultiTaskRecommender (listed by "
        "help(skmtrec.MultiTaskRecommender)), the value read as JSON where it parses: "
        "--set max_epochs=20 --set architecture=ple --set architecture__tower_units=[32]; "
        "repeat for several",
    )
    fit.add_argument(
        "--random-state",
        type=int,
        default=0,
        help="seed, for the same model on each run (default: 0)",
    )
    fit.add_argument(
        "--verbose",
        type=int,
        default=0,
        help="progress while training, on stderr: 0 none, 1 a line per epoch, 2 also a bar "
        "within each epoch (default: 0)",
    )
    fit.set_defaults(run=_fit)

    predict = commands.add_parser(
        "predict",
        help="predict every task for each row of a table",
        description="Predict every task for each row of a table that has the columns the "
        "model was fitted on. Writes the user and item ids and one column per task, and "
        "prints one line on stderr.",
    )
    _model_argument(predict)
    predict.add_argument("data", type=Path, help=f"rows to predict ({_suffixes(_TABLES)})")
    predict.add_argument(
        "--out",
        type=Path,
        metavar="FILE",
        required=True,
        help="file to write the predictions to; its suffix picks the format "
        f"({_suffixes(_TABLES)})",
    )
    predict.set_defaults(run=_predict)

    recommend = commands.add_parser(
        "recommend",
        help="the top-k items for each user",
        description="Recommend the top-k items for each user of a table (its user id column and "
        "any user feature columns; the first row of each user is used), leaving out the items "
        "each user interacted with in fit. Writes one row per user and rank, and prints one "
        "line on stderr.",
    )
    _model_argument(recommend)
    recommend.add_argument(
        "--users",
        type=Path,
        required=True,
        metavar="FILE",
        help=f"users to recommend for ({_suffixes(_TABLES)})",
    )
    recommend.add_argument("--k", type=int, default=10, help="items per user (default: 10)")
    recommend.add_argument(
        "--task",
        help="the task whose predicted score ranks the items (default: the first implicit "
        "task, else the first regression task, else the first binary task)",
    )
    recommend.add_argument(
        "--include-seen",
        action="store_true",
        help="also recommend items the user interacted with in fit",
    )
    recommend.add_argument(
        "--out",
        type=Path,
        metavar="FILE",
        required=True,
        help="file to write the recommendations to; its suffix picks the format "
        f"({_suffixes(_TABLES)})",
    )
    recommend.set_defaults(run=_recommend)

    evaluate = commands.add_parser(
        "evaluate",
        help="score a model on held-out interactions",
        description="Score a model on held-out interactions and print a table: each task's "
        "metrics on the rows where its label is present (RMSE and MAE for a rating), and, "
        "for a model with user and item ids, NDCG, recall and hit rate of each test user's "
        "top-k list, items seen in fit left out. Which test rows count as relevant changes "
        "the ranking metrics: with --relevance rating:4 only rows rated 4 or more; without "
        "--relevance, every test row. The lines above the table say which rule was used.",
    )
    _model_argument(evaluate)
    evaluate.add_argument("data", type=Path, help=f"test interactions ({_suffixes(_TABLES)})")
    evaluate.add_argument(
        "--k", type=int, default=10, help="length of each user's list (default: 10)"
    )
    evaluate.add_argument(
        "--relevance",
        metavar="TASK:THRESHOLD",
        help="count a test row as relevant only where that task's label is at least the "
        "threshold, e.g. rating:4 (default: every test row counts as relevant)",
    )
    evaluate.add_argument(
        "--clip",
        action="append",
        default=[],
        metavar="TASK:LOW:HIGH",
        help="clip a regression task's predictions to [LOW, HIGH] before scoring, e.g. "
        "rating:1:5 for ratings of 1 to 5 stars; repeat for several tasks",
    )
    evaluate.add_argument(
        "--out",
        type=Path,
        metavar="FILE",
        help="also write the metrics, k, the relevance rule and the clips to this .json file",
    )
    evaluate.set_defaults(run=_evaluate)
    return parser


# -- commands ------------------------------------------------------------------------------------


def _fit(args) -> int:
    _check_in(args.data)
    tasks = dict(_pair(text, "--task", "NAME:KIND") for text in args.tasks)
    params = dict(_param(text) for text in args.params)

    from ._persistence.save_load import check_target, save
    from ._recommender import MultiTaskRecommender
    from ._training.device import check_device
    from .exceptions import TrainingInterruptedWarning

    model = MultiTaskRecommender(
        tasks,
        user_col=args.user_col,
        item_col=args.item_col,
        random_state=args.random_state,
        verbose=args.verbose,
    )
    _set_params(model, params)
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
            # the epoch lines (printed by the training code) go to stderr: stdout is for data
            with warnings.catch_warnings(), contextlib.redirect_stdout(sys.stderr):
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
            _say(f"{stopped} while saving; the model was saved to {args.model}.")
        else:
            _say(f"{stopped}; nothing was saved to {args.model}.")
        return 128 + signals.received
    _say(f"fitted {len(data)} rows, tasks {list(tasks)}; saved to {args.model}")
    return 0


def _predict(args) -> None:
    _check_in(args.data)
    _check_out(args.out, _TABLES)
    import pandas as pd

    from ._persistence.save_load import load
    from ._pipelines import final_step

    model = load(args.model)
    recommender = final_step(model)
    data = _read(args.data, _text_ids(recommender))
    predictions = recommender.predict_tasks(_features(model, data, args.data))
    ids = [c for c in (recommender.user_col_, recommender.item_col_) if c]
    _write(pd.concat([data[ids], predictions], axis=1), args.out)
    _say(f"wrote {len(predictions)} predictions of tasks {list(predictions.columns)} to {args.out}")


def _recommend(args) -> None:
    _check_in(args.users)
    _check_out(args.out, _TABLES)
    from ._persistence.save_load import load
    from ._pipelines import final_step

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
    _say(f"wrote top-{args.k} for {len(table)} users ({len(top)} rows) to {args.out}")


def _evaluate(args) -> None:
    _check_in(args.data)
    if args.out is not None:
        _check_out(args.out, _METRICS)
    relevance = None
    if args.relevance:
        task, threshold = _pair(args.relevance, "--relevance", "TASK:THRESHOLD")
        relevance = (task, _number(threshold, "--relevance", args.relevance))

    from ._persistence.save_load import load
    from ._pipelines import final_step
    from .metrics import make_ranking_scorer, make_task_scorer

    model = load(args.model)
    recommender = final_step(model)
    clips = dict(_clip(text, recommender.tasks_) for text in args.clip)
    if relevance is not None and relevance[0] not in recommender.tasks_:
        raise ValueError(
            f"--relevance {args.relevance!r}: the model has no task {relevance[0]!r}; its tasks "
            f"are {list(recommender.tasks_)}."
        )
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
                value = math.nan
            metrics[f"{name} {metric}"] = value if task.greater_is_better(metric) else -value
    ranked = recommender.user_col_ is not None and recommender.item_col_ is not None
    if ranked:
        for metric in _RANKING:
            scorer = make_ranking_scorer(metric, args.k, relevance=relevance)
            metrics[f"{metric}@{args.k}"] = scorer(model, X, y)
    # the rule above the numbers: NDCG with and without --relevance differ under one name
    print(f"# {len(data)} test rows of {args.data}")
    for name, (low, high) in clips.items():
        print(f"# {name} predictions clipped to [{low:g}, {high:g}]")
    if ranked:
        print(f"# ranking: each test user's top {args.k}, items seen in fit left out")
        print(f"# relevant: {_relevance_rule(relevance)}")
    width = max(map(len, metrics), default=0)
    for name, value in metrics.items():
        print(f"{name:<{width}}  {value:.4f}")
    if args.out is not None:
        report = {
            "k": args.k,
            "relevance": None
            if relevance is None
            else {"task": relevance[0], "threshold": relevance[1]},
            "clip": {name: list(bounds) for name, bounds in clips.items()},
            "metrics": {k: None if math.isnan(v) else float(v) for k, v in metrics.items()},
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, indent=1))
        _say(f"wrote {len(metrics)} metrics to {args.out}")


# -- helpers -------------------------------------------------------------------------------------


def _say(line: str) -> None:
    """A line for the user, on stderr: stdout stays for data."""
    print(line, file=sys.stderr)


def _relevance_rule(relevance: tuple[str, float] | None) -> str:
    if relevance is None:
        return "every test row (no --relevance given)"
    task, threshold = relevance
    return f"test rows with {task} >= {threshold:g} (--relevance {task}:{threshold:g})"


def _suffixes(suffixes: Sequence[str]) -> str:
    return ", ".join(suffixes)


def _model_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", type=Path, help="a model folder written by skmtrec fit or save")


def _check_in(path: Path) -> None:
    """Refuse an input table of an unknown type or that is not a file, before any work."""
    if path.suffix.lower() not in _TABLES:
        raise ValueError(f"{path}: unknown file type {path.suffix!r}; use {_suffixes(_TABLES)}.")
    if not path.is_file():
        raise FileNotFoundError(f"{path} {'is not a file' if path.exists() else 'does not exist'}.")


def _check_out(path: Path, suffixes: tuple[str, ...]) -> None:
    if path.suffix.lower() not in suffixes:
        raise ValueError(
            f"--out {path}: unknown file type {path.suffix!r}; use {_suffixes(suffixes)}."
        )


def _read(path: Path, ids: Sequence = ()) -> pd.DataFrame:
    """The rows of the table at ``path``; in a CSV or JSON file, the columns ``ids`` as text,
    so that ``007`` and ``7`` stay two ids (Parquet keeps its own types)."""
    import pandas as pd

    _check_in(path)
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            table = pd.read_parquet(path)
        elif suffix == ".json":
            table = _read_json(path, ids)
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


def _read_json(path: Path, ids: Sequence) -> pd.DataFrame:
    """A JSON list of records, read with the json module so that no column is converted."""
    import pandas as pd

    text = path.read_text(encoding="utf-8")
    if not text.strip():
        raise pd.errors.EmptyDataError
    try:
        rows = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise ValueError(
            f"{path} cannot be read as a table: it must be a JSON list of objects, one per row."
        )
    table = pd.DataFrame.from_records(rows)
    for column in ids:
        if column in table:
            table[column] = table[column].map(str, na_action="ignore")
    return table


def _write(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        frame.to_parquet(path, index=False)
    elif suffix == ".json":
        frame.to_json(path, orient="records", double_precision=15, force_ascii=False)
    else:
        frame.to_csv(path, index=False, sep="\t" if suffix == ".tsv" else ",")


def _set_params(model, params: dict) -> None:
    """Set the ``--set`` parameters, a name the model lacks refused with the closest names."""
    from ._config import with_objects

    top = list(model.get_params(deep=False))
    flat = {name: value for name, value in params.items() if "__" not in name}
    for name in flat:
        _check_name(name, top)
    nested = {name: value for name, value in params.items() if "__" in name}
    for name in nested:  # a misspelt object name: the names with it spelt right
        outer, _, inner = name.partition("__")
        _check_name(outer, top, name, suffix=f"__{inner}")
    model.set_params(**flat)
    model.set_params(**with_objects(model, nested))
    deep = list(model.get_params(deep=True))
    for name in nested:
        _check_name(name, deep)
    model.set_params(**nested)


def _check_name(name: str, valid: list[str], whole: str | None = None, suffix: str = "") -> None:
    """Refuse the ``--set`` name ``whole`` (default: ``name``) where ``name`` is not one of
    ``valid``, suggesting the closest ones (each followed by ``suffix``)."""
    if name in valid:
        return
    close = [known + suffix for known in difflib.get_close_matches(name, valid, n=3)]
    hint = (
        f"did you mean {' or '.join(map(repr, close))}?"
        if close
        else "help(skmtrec.MultiTaskRecommender) lists the parameters."
    )
    raise ValueError(f"--set: MultiTaskRecommender has no parameter {whole or name!r}; {hint}")


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
    if not math.isfinite(value):
        raise ValueError(f"{option} {whole!r}: {text!r} is not a finite number.")
    return value


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
