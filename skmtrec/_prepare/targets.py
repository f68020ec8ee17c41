"""The target table: ``y`` in any form scikit-learn accepts, as one column per declared task."""

from __future__ import annotations

from collections.abc import Mapping
from numbers import Real

import numpy as np
import pandas as pd

from .._tasks import TASK_KINDS, SoftmaxImplicitTask, Task
from .features import as_pandas, check_unique_columns


def targets_frame(y, n_samples: int, tasks: Mapping[str, str] | None) -> pd.DataFrame:
    """``y`` as a DataFrame with one column per task, checked against ``tasks`` and X's rows."""
    y = as_pandas(y, "y")
    only_implicit = tasks is not None and all(
        TASK_KINDS[kind].implied_by_rows for kind in tasks.values()
    )
    if y is None and not only_implicit:
        raise ValueError("MultiTaskRecommender requires y to be passed, but the target y is None.")
    if y is None:
        frame = pd.DataFrame(index=range(n_samples))
    elif isinstance(y, pd.DataFrame):
        frame = y.reset_index(drop=True)
    elif isinstance(y, pd.Series):
        name = y.name if y.name is not None else _single_name(tasks)
        frame = y.reset_index(drop=True).to_frame(name=name)
    else:
        arr = _as_array(y)
        if arr.dtype.kind == "c":
            raise ValueError("Complex data not supported in y.")
        if arr.ndim == 1:
            frame = pd.DataFrame({_single_name(tasks): arr})
        elif arr.ndim == 2:
            if tasks is not None and len(tasks) == arr.shape[1]:
                names = list(tasks)
            else:
                names = [f"y{j}" for j in range(arr.shape[1])]
            frame = pd.DataFrame(arr, columns=names)
        else:
            raise ValueError(f"y must be 1-D or 2-D; got an array with shape {arr.shape}.")
    if len(frame) != n_samples:
        raise ValueError(
            f"X and y have different numbers of rows: X has {n_samples}, y has {len(frame)}."
        )
    frame.columns = [str(c) for c in frame.columns]
    check_unique_columns(frame, "y")
    frame = frame.infer_objects()  # from object arrays: a column of numbers is read as numbers
    if tasks is None:
        return frame
    declared, given = list(tasks), list(frame.columns)
    undeclared = [c for c in given if c not in tasks]
    if undeclared:
        raise ValueError(
            f"y has column(s) {undeclared} that `tasks` does not name; tasks are {declared}. "
            "Add them to `tasks` or drop them from y."
        )
    implied = [t for t in declared if t not in given and TASK_KINDS[tasks[t]].implied_by_rows]
    for t in implied:  # an implicit task needs no column: every observed row is a positive
        frame[t] = 1.0
    absent = [t for t in declared if t not in frame.columns]
    if absent:
        raise ValueError(f"`tasks` names {absent} but y has no such column(s); y has {given}.")
    return frame[declared]


def _as_array(y) -> np.ndarray:
    """y as an array; a list (of rows) keeps its values' types in an object array, so that a
    row mixing strings and NaN does not turn NaN into the string "nan"."""
    if isinstance(y, np.ndarray):
        return y
    if not isinstance(y, (list, tuple)):
        return np.asarray(y)
    arr = np.asarray(y, dtype=object)
    if arr.ndim == 1 and any(isinstance(v, (list, tuple, np.ndarray)) for v in arr):
        raise ValueError(
            "y's rows have different lengths; pass a DataFrame with one column per task, or an "
            "array of shape (n_samples, n_tasks)."
        )
    return arr


def _single_name(tasks: Mapping[str, str] | None) -> str:
    if tasks is None:
        return "y"
    explicit = [t for t, kind in tasks.items() if not TASK_KINDS[kind].implied_by_rows]
    if len(explicit) == 1:
        return explicit[0]
    if len(tasks) != 1:
        raise ValueError(
            f"y is 1-D but `tasks` declares {len(tasks)} tasks {list(tasks)}; pass a DataFrame "
            "with one column per task."
        )
    return next(iter(tasks))


def check_tasks(tasks: Mapping[str, str] | None) -> dict[str, str] | None:
    """The declared tasks as {name: kind}, checked; ``None`` stays ``None`` (all regression)."""
    if tasks is None:
        return None
    if not isinstance(tasks, Mapping) or not tasks:
        raise ValueError(
            "`tasks` must be a non-empty dict {task name: kind}, e.g. "
            f"{{'rating': 'regression', 'like': 'binary'}}; got {tasks!r}."
        )
    for name, kind in tasks.items():
        if kind not in TASK_KINDS:
            raise ValueError(
                f"Task {name!r} has unknown kind {kind!r}; the kinds are {list(TASK_KINDS)}."
            )
    return {str(name): kind for name, kind in tasks.items()}


# ``ranking_loss="auto"`` trains implicit tasks by a softmax (retrieval) from this many items
# in the catalog on, and by BCE through the head below it.
SOFTMAX_FROM_ITEMS = 10_000


def ranking_loss_for(params: Mapping, n_items: int) -> str:
    """The ranking loss that ``ranking_loss="auto"`` stands for with ``n_items`` items in fit:
    "softmax" from ``SOFTMAX_FROM_ITEMS`` on (unless GradNorm balances the tasks: it needs
    every task on the head), else "bce"; any other value as given."""
    if params["ranking_loss"] != "auto":
        return params["ranking_loss"]
    large = n_items >= SOFTMAX_FROM_ITEMS
    return "softmax" if large and params["task_balancing"] != "gradnorm" else "bce"


def make_task(name: str, kind: str, params: Mapping) -> Task:
    """The unfitted task ``name`` of ``kind``; an implicit task under
    ``ranking_loss="softmax"`` is the retrieval task, scored against the catalog by the
    cosine of the user's and the item's vectors (see ``SoftmaxImplicitTask``)."""
    if kind == "implicit" and params["ranking_loss"] == "softmax":
        if params["task_balancing"] == "gradnorm":
            raise ValueError(
                f"task_balancing='gradnorm' measures gradients on the head's last shared "
                f"layer, which task {name!r} does not reach under ranking_loss='softmax' "
                "(it is scored by a dot product of the user and item vectors); choose "
                "another balancing or ranking_loss='bce'."
            )
        return SoftmaxImplicitTask(name, params["softmax_items"])
    return TASK_KINDS[kind](name)


def task_weights(tasks: list[Task], given: Mapping | None) -> list[float]:
    """Each task's fixed weight: ``given[name]``, else its kind's default."""
    weights = dict(given or {})
    names = [task.name for task in tasks]
    unknown = [name for name in weights if name not in names]
    if unknown:
        raise ValueError(f"`task_weights` names {unknown}, which are not tasks; tasks are {names}.")
    for name, w in weights.items():
        if not (isinstance(w, Real) and np.isfinite(w) and w >= 0):
            raise ValueError(f"`task_weights[{name!r}]` must be a finite number >= 0; got {w!r}.")
    return [float(weights.get(task.name, task.default_weight)) for task in tasks]


def first_columns(tasks) -> list[int]:
    """Each task's first column in the encoded target matrix."""
    return [int(c) for c in np.cumsum([0] + [task.n_targets for task in tasks])[:-1]]
