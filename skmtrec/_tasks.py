"""Tasks: what each column of ``y`` is, and how its labels become training targets.

A task has a name (the ``y`` column) and a kind. Regression targets are standardized for
training and unscaled at prediction; classification labels of any hashable type are encoded
as class indices, as scikit-learn classifiers do. A missing label (NaN or None) stays NaN in
the encoded targets, and the loss skips it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

TASK_KINDS = ("regression", "binary", "multiclass", "implicit")


@dataclass
class FittedTask:
    """One task as learned from the training labels."""

    name: str
    kind: str
    classes: np.ndarray | None = None
    mean: float = 0.0
    scale: float = 1.0

    @property
    def is_classifier(self) -> bool:
        return self.kind != "regression"

    @property
    def n_outputs(self) -> int:
        """Width of this task's tower output (logits or the scaled value)."""
        return len(self.classes) if self.kind == "multiclass" else 1

    @classmethod
    def fit(cls, name: str, kind: str, labels: pd.Series) -> FittedTask:
        present = labels[labels.notna()]
        if present.empty:
            raise ValueError(f"Task {name!r} has no labels in y: every value is missing.")
        if kind == "implicit":
            values = set(pd.unique(present))
            if not values <= {0, 1}:
                raise ValueError(
                    f"Task {name!r} is 'implicit': its labels are 1 (interacted) or 0 (a known "
                    f"negative); y has {sorted(values, key=str)[:5]}."
                )
            return cls(name, kind, classes=np.array([0, 1]))
        if kind == "regression":
            values = _as_float(name, present)
            scale = float(values.std())
            return cls(
                name,
                kind,
                mean=float(values.mean()),
                scale=scale if scale > 0 else 1.0,
            )
        try:
            classes = np.array(sorted(pd.unique(present)))
        except TypeError as exc:
            raise ValueError(
                f"Task {name!r}: class labels must be mutually comparable (all str or all "
                f"numbers); got {sorted({type(v).__name__ for v in present})}."
            ) from exc
        if len(classes) < 2:
            raise ValueError(
                f"Task {name!r} ({kind}) has a single class in y ({classes[0]!r}); a "
                "classification task needs at least two classes."
            )
        if kind == "binary" and len(classes) > 2:
            raise ValueError(
                f"Task {name!r} is declared 'binary' but y has {len(classes)} classes; "
                "declare it 'multiclass'."
            )
        return cls(name, kind, classes=classes)

    def encode(self, labels: pd.Series) -> np.ndarray:
        """Training targets: scaled values or class indices, NaN where the label is missing."""
        missing = labels.isna().to_numpy()
        out = np.full(len(labels), np.nan, dtype=np.float32)
        present = labels[~missing]
        if self.kind == "regression":
            out[~missing] = (_as_float(self.name, present) - self.mean) / self.scale
            return out
        codes = pd.Index(self.classes).get_indexer(present)
        if (codes < 0).any():
            unknown = pd.unique(present[codes < 0])[:5]
            raise ValueError(
                f"Task {self.name!r}: y has labels not seen in fit: {list(unknown)}; "
                f"known classes are {list(self.classes)}."
            )
        out[~missing] = codes
        return out

    def probabilities(self, raw: np.ndarray) -> np.ndarray:
        """Class probabilities, shape (n_samples, n_classes), from the tower's logits."""
        if self.kind in ("binary", "implicit"):
            p = 1.0 / (1.0 + np.exp(-raw.reshape(-1).astype(np.float64)))
            return np.column_stack([1.0 - p, p])
        shifted = raw - raw.max(axis=1, keepdims=True)
        e = np.exp(shifted.astype(np.float64))
        return e / e.sum(axis=1, keepdims=True)

    def decode(self, raw: np.ndarray) -> np.ndarray:
        """Predictions in the units of y: values for regression, labels for classification."""
        if self.kind == "regression":
            return raw.reshape(-1).astype(np.float64) * self.scale + self.mean
        return self.classes[self.probabilities(raw).argmax(axis=1)]


def _as_float(name: str, values: pd.Series) -> np.ndarray:
    try:
        out = values.to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"Task {name!r} is a regression task but y has non-numeric values "
            f"such as {values.iloc[0]!r}; declare it 'binary' or 'multiclass'."
        ) from exc
    if not np.isfinite(out).all():
        raise ValueError(f"Task {name!r}: y contains infinity; use NaN for a missing label.")
    return out


def targets_frame(y, n_samples: int, tasks: Mapping[str, str] | None) -> pd.DataFrame:
    """``y`` as a DataFrame with one column per task, checked against ``tasks`` and X's rows."""
    only_implicit = tasks is not None and all(kind == "implicit" for kind in tasks.values())
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
        arr = np.asarray(y)
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
    if tasks is None:
        return frame
    declared, given = list(tasks), list(frame.columns)
    undeclared = [c for c in given if c not in tasks]
    if undeclared:
        raise ValueError(
            f"y has column(s) {undeclared} that `tasks` does not name; tasks are {declared}. "
            "Add them to `tasks` or drop them from y."
        )
    implied = [t for t in declared if t not in given and tasks[t] == "implicit"]
    for t in implied:  # an implicit task needs no column: every observed row is a positive
        frame[t] = 1.0
    absent = [t for t in declared if t not in frame.columns]
    if absent:
        raise ValueError(f"`tasks` names {absent} but y has no such column(s); y has {given}.")
    return frame[declared]


def _single_name(tasks: Mapping[str, str] | None) -> str:
    if tasks is None:
        return "y"
    explicit = [t for t, kind in tasks.items() if kind != "implicit"]
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
