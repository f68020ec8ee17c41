"""Task kinds: one small class per kind owns what a column of ``y`` means.

A task knows its labels (it learns their encoding in ``fit``), the width of its network output,
its loss over the rows whose label is present, how raw outputs become predictions,
probabilities and a ranking score, and which metrics score it. Everything else (the loss of
the net, ``predict``, ``score``, ``recommend``, the scorers) asks the task. A missing label
(NaN or None) is encoded as NaN and drops out of its own task's loss only.

Adding a kind is one class here and one entry in ``TASK_KINDS``.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import ClassVar

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    log_loss,
    mean_absolute_error,
    r2_score,
    roc_auc_score,
    root_mean_squared_error,
)

from ._persistence.state_checks import expect_array, expect_keys

# metric name -> (function(task, truth, prediction), greater is better, needs probabilities)
Metric = tuple[Callable[..., float], bool, bool]


class Task:
    """One task: a column of ``y`` of some kind, with what was learned of its labels in fit."""

    kind: ClassVar[str]
    is_classifier: ClassVar[bool] = True
    implied_by_rows: ClassVar[bool] = False  # a label column is optional (every row is a 1)
    default_metric: ClassVar[str | None]
    metrics: ClassVar[dict[str, Metric]] = {}
    # Where ``recommend`` looks for its default score: lower ranks first, None cannot rank.
    rank_priority: ClassVar[int | None] = None
    # Whether a user's history keeps this task's label beside each item (one scalar target).
    in_history: ClassVar[bool] = False
    # Whether training adds sampled negative rows for this task (implicit tasks under BCE).
    samples_negatives: ClassVar[bool] = False
    # The task's weight in the loss when ``task_weights`` does not name it.
    default_weight: ClassVar[float] = 1.0

    def __init__(self, name: str):
        self.name = name
        self.classes: np.ndarray | None = None

    # -- labels ---------------------------------------------------------------------------------

    def fit(self, labels: pd.Series) -> Task:
        """Learn the encoding of the labels; missing labels are ignored."""
        present = labels[self.present(labels)]
        if present.empty:
            raise ValueError(f"Task {self.name!r} has no labels in y: every value is missing.")
        self._fit(present)
        return self

    def _fit(self, present: pd.Series) -> None:
        raise NotImplementedError

    def present(self, labels: pd.Series) -> np.ndarray:
        """Rows whose label is given."""
        return labels.notna().to_numpy()

    @property
    def n_outputs(self) -> int:
        """Width of the task's network output."""
        return 1

    @property
    def n_targets(self) -> int:
        """Columns of the task in the encoded target matrix."""
        return 1

    def encode(self, labels: pd.Series) -> np.ndarray:
        """Training targets, shape (n_samples, n_targets), NaN where the label is missing."""
        present = self.present(labels)
        out = np.full((len(labels), self.n_targets), np.nan, dtype=np.float32)
        out[present] = self._encode(labels[present]).reshape(int(present.sum()), -1)
        return out

    def _encode(self, present: pd.Series) -> np.ndarray:
        raise NotImplementedError

    # -- network side ---------------------------------------------------------------------------

    @staticmethod
    def loss(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean loss of the network's output over rows with a present label."""
        raise NotImplementedError

    def rank_score(self, output: torch.Tensor) -> torch.Tensor:
        """A score to rank items by, from the network's output (kinds with a
        ``rank_priority``)."""
        raise NotImplementedError

    def export_output(self, output: torch.Tensor) -> torch.Tensor:
        """The prediction an exported graph gives, from the network's output: the value (in
        y units) of a regression task, the probability of ``classes[1]`` of a binary or
        implicit one, the probabilities of ``classes`` of a multiclass or multilabel one."""
        return self.rank_score(output)

    # -- predictions ----------------------------------------------------------------------------

    def decode(self, raw: np.ndarray) -> np.ndarray:
        """Predictions in the units of y from the network's raw outputs."""
        raise NotImplementedError

    def proba(self, raw: np.ndarray) -> np.ndarray:
        """Probabilities, shape (n_samples, n_classes), in the order of ``classes``."""
        raise ValueError(f"Task {self.name!r} is {self.kind}: it has no probabilities.")

    def needs_proba(self, metric: str) -> bool:
        """Whether ``metric`` scores probabilities (else predictions)."""
        self.check_metric(metric)
        return self.metrics[metric][2]

    def greater_is_better(self, metric: str) -> bool:
        self.check_metric(metric)
        return self.metrics[metric][1]

    def evaluate(self, metric: str, truth: pd.Series, prediction: np.ndarray) -> float:
        """``metric`` on present labels ``truth``; ``prediction`` holds predictions, or
        probabilities where ``needs_proba(metric)``."""
        self.check_metric(metric)
        if self.needs_proba(metric):
            self.check_seen(truth)
        return float(self.metrics[metric][0](self, truth, prediction))

    def check_seen(self, truth: pd.Series) -> None:
        """A ValueError naming the labels of ``truth`` (present ones) that fit never saw: the
        model has no probability for them, so a metric of probabilities (ROC AUC, log loss)
        or of a ranking by them is undefined. (Metrics of predictions count them as wrong.)"""
        unseen = self.unseen(truth)
        if unseen:
            raise ValueError(
                f"Task {self.name!r}: y has labels not seen in fit: {unseen[:5]}; the model never "
                f"saw them, so it cannot score them (its classes are "
                f"{np.asarray(self.classes).tolist()[:20]}). "
                "Drop those rows, or fit on data that holds them."
            )

    def unseen(self, truth: pd.Series) -> list:
        """The distinct labels of ``truth`` (present ones) that are not classes of fit."""
        return []

    def check_metric(self, metric: str) -> None:
        if metric not in self.metrics:
            raise ValueError(
                f"Metric {metric!r} does not apply to task {self.name!r} ({self.kind}); "
                f"choose from {sorted(self.metrics)}."
            )

    def state(self) -> dict:
        """What fit learned of the labels, as plain values and arrays (``set_state`` takes it)."""
        return vars(self).copy()

    def set_state(self, state: dict) -> Task:
        """Take back what ``state()`` gave, checked (it may come from a file): a ValueError
        names the task and what is wrong."""
        field = f"task {self.name!r}"
        self.__dict__.update(expect_keys(state, vars(self), field))
        if self.name != state["name"]:
            raise ValueError(f"{field} holds the state of task {state['name']!r}")
        self._check_state(field)
        return self

    def _check_state(self, field: str) -> None:
        if not self.is_classifier:
            return
        classes = expect_array(self.classes, f"{field} classes", kinds="biufUSO", ndim=1)
        if not len(classes) or len(pd.unique(classes)) != len(classes):
            raise ValueError(f"{field} classes must be distinct values")

    def spec(self) -> dict:
        """The task as the network sees it (JSON-serializable)."""
        return {"name": self.name, "kind": self.kind, "n_outputs": self.n_outputs}


def _sigmoid(raw: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-raw.astype(np.float64)))


def _values(metric: Callable[..., float]) -> Callable[..., float]:
    """A metric of (truth, prediction) as a metric of (task, truth, prediction)."""
    return lambda task, truth, prediction: metric(truth.to_numpy(), prediction)


class RegressionTask(Task):
    """A numeric target, standardized for training and unscaled at prediction."""

    kind = "regression"
    is_classifier = False
    default_metric = "r2"
    metrics = {
        "rmse": (_values(root_mean_squared_error), False, False),
        "mae": (_values(mean_absolute_error), False, False),
        "r2": (_values(r2_score), True, False),
    }
    rank_priority = 1
    in_history = True

    def __init__(self, name: str):
        super().__init__(name)
        self.mean, self.scale = 0.0, 1.0

    def _fit(self, present: pd.Series) -> None:
        values = self._as_float(present)
        with np.errstate(over="ignore", invalid="ignore"):
            self.mean = float(values.mean())
            scale = float(values.std())
        if not (np.isfinite(self.mean) and np.isfinite(scale)):
            raise ValueError(
                f"Task {self.name!r}: y has values too large to standardize (up to "
                f"{np.abs(values).max():.3g}); rescale the target."
            )
        self.scale = scale if scale > 0 else 1.0

    def _check_state(self, field: str) -> None:
        for name in ("mean", "scale"):
            value = getattr(self, name)
            if type(value) is not float or not np.isfinite(value):
                raise ValueError(f"{field} {name} must be a finite float; it is {value!r}")
        if self.scale <= 0:
            raise ValueError(f"{field} scale must be positive; it is {self.scale!r}")

    def _as_float(self, values: pd.Series) -> np.ndarray:
        try:
            out = values.to_numpy(dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"Task {self.name!r} is a regression task but y has non-numeric values "
                f"such as {values.iloc[0]!r}; declare it 'binary' or 'multiclass'."
            ) from exc
        if not np.isfinite(out).all():
            raise ValueError(
                f"Task {self.name!r}: y contains infinity; use NaN for a missing label."
            )
        return out

    def _encode(self, present: pd.Series) -> np.ndarray:
        return (self._as_float(present) - self.mean) / self.scale

    @staticmethod
    def loss(output, target):
        return F.mse_loss(output, target[:, 0])

    def rank_score(self, output):
        return output * self.scale + self.mean

    def decode(self, raw):
        return raw.reshape(-1).astype(np.float64) * self.scale + self.mean


class _ClassificationTask(Task):
    """Classes of any comparable type, encoded as indices into the sorted ``classes``."""

    metrics = {
        "accuracy": (_values(accuracy_score), True, False),
        "log_loss": (
            lambda task, t, p: log_loss(t.to_numpy(), p, labels=task.classes),
            False,
            True,
        ),
    }

    def _fit(self, present: pd.Series) -> None:
        self.classes = _sorted_classes(pd.unique(present))
        if len(self.classes) < 2:
            raise ValueError(
                f"Task {self.name!r} ({self.kind}) has a single class in y "
                f"({self.classes[0]!r}); a classification task needs at least two classes."
            )

    def _encode(self, present: pd.Series) -> np.ndarray:
        codes = pd.Index(self.classes).get_indexer(present)
        if (codes < 0).any():
            unknown = pd.unique(present[codes < 0])[:5]
            raise ValueError(
                f"Task {self.name!r}: y has labels not seen in fit: {list(unknown)}; "
                f"known classes are {list(self.classes)}."
            )
        return codes

    def unseen(self, truth):
        codes = pd.Index(self.classes).get_indexer(truth)
        return pd.unique(truth[codes < 0]).tolist()


class BinaryTask(_ClassificationTask):
    """Two classes; the network outputs the logit of ``classes[1]``."""

    kind = "binary"
    default_metric = "accuracy"
    metrics = {
        **_ClassificationTask.metrics,
        "roc_auc": (
            lambda task, t, p: roc_auc_score(t.to_numpy() == task.classes[1], p[:, 1]),
            True,
            True,
        ),
    }
    rank_priority = 2
    in_history = True

    def _fit(self, present: pd.Series) -> None:
        super()._fit(present)
        if len(self.classes) > 2:
            raise ValueError(
                f"Task {self.name!r} is declared 'binary' but y has {len(self.classes)} "
                "classes; declare it 'multiclass'."
            )

    @staticmethod
    def loss(output, target):
        return F.binary_cross_entropy_with_logits(output, target[:, 0])

    def rank_score(self, output):
        return torch.sigmoid(output)

    def proba(self, raw):
        p = _sigmoid(raw.reshape(-1))
        return np.column_stack([1.0 - p, p])

    def decode(self, raw):
        return self.classes[(raw.reshape(-1) > 0).astype(int)]

    def _check_state(self, field: str) -> None:
        super()._check_state(field)
        if len(self.classes) != 2:
            raise ValueError(f"{field} classes must be two values; they are {len(self.classes)}")


class ImplicitTask(BinaryTask):
    """Implicit feedback: every observed row is a positive (1); negatives are sampled.

    Observed rows alone cannot score it (they are all positives): it ranks, in ``recommend``,
    and its prediction is its score, the probability of an interaction, not a 0/1 label.
    """

    kind = "implicit"
    implied_by_rows = True
    samples_negatives = True
    default_metric = None
    # rows labelled 0 (known negatives) make its probabilities scorable; no metric of a
    # predicted label, since its prediction is a score
    metrics = {name: BinaryTask.metrics[name] for name in ("roc_auc", "log_loss")}
    rank_priority = 0
    in_history = False  # always 1 on a history's rows
    # Ranking gains from weighing more than the labels beside it (benchmarks/validate.py).
    default_weight = 3.0

    def _fit(self, present: pd.Series) -> None:
        values = set(pd.unique(present))
        if not values <= {0, 1}:
            raise ValueError(
                f"Task {self.name!r} is 'implicit': its labels are 1 (interacted) or 0 (a "
                f"known negative); y has {sorted(values, key=str)[:5]}."
            )
        self.classes = np.array([0, 1])

    def decode(self, raw):
        # a label would mean nothing where no row is a negative: the score ranks
        return self.proba(raw)[:, 1]


class SoftmaxImplicitTask(ImplicitTask):
    """Implicit feedback learned by a softmax over the catalog instead of sampled negatives:
    the retrieval task.

    The task is scored by the cosine of the user's and item's vectors (a ``DotScorer``,
    which skips the head), so a row's item can be scored against every item at once: the loss
    is the cross entropy of the row's item among the catalog (or, past ``softmax_items``
    items, among that many drawn by popularity, logQ-corrected). Rows labelled 0 (known
    negatives) do not enter it. The output is a score, not a calibrated logit: it ranks, and
    ``recommend`` retrieves by it before the head re-ranks.
    """

    samples_negatives = False
    # the scorer's similarity and the softmax's temperature (see ``DotScorer``)
    similarity: ClassVar[str] = "cosine"
    temperature: ClassVar[float] = 0.1

    def __init__(self, name: str, softmax_items: int = 512):
        super().__init__(name)
        self.softmax_items = softmax_items

    @staticmethod
    def loss(output, target):
        # the mean over the positive rows, weighting every row rather than selecting some: a
        # selection's size is what a device would have to report. Column 0 (the row's own
        # item) is finite, so every row's cross entropy is, and a weight of 0 leaves it out
        positive = (target[:, 0] == 1).to(output.dtype)
        own = torch.zeros(len(output), dtype=torch.long, device=output.device)
        losses = F.cross_entropy(output, own, reduction="none")
        return (losses * positive).sum() / positive.sum().clamp(min=1)

    def spec(self) -> dict:
        return {
            **super().spec(),
            "scorer": "dot",
            "softmax_items": self.softmax_items,
            "similarity": self.similarity,
            "temperature": self.temperature,
        }


class MulticlassTask(_ClassificationTask):
    """One of several classes; the network outputs one logit per class."""

    kind = "multiclass"
    default_metric = "accuracy"
    metrics = {
        **_ClassificationTask.metrics,
        "f1_macro": (_values(lambda t, p: f1_score(t, p, average="macro")), True, False),
    }

    @property
    def n_outputs(self) -> int:
        return len(self.classes)

    @staticmethod
    def loss(output, target):
        return F.cross_entropy(output, target[:, 0].long())

    def export_output(self, output):
        return torch.softmax(output, dim=1)

    def proba(self, raw):
        shifted = raw - raw.max(axis=1, keepdims=True)
        e = np.exp(shifted.astype(np.float64))
        return e / e.sum(axis=1, keepdims=True)

    def decode(self, raw):
        return self.classes[raw.argmax(axis=1)]


class MultilabelTask(Task):
    """A set of labels per row: a list, tuple or set of hashable labels (None or NaN: missing;
    a None or NaN inside a set is dropped, so it never becomes a class).

    The network outputs one logit per label; ``predict`` gives the tuple of labels whose
    probability is at least 0.5, in the order of ``classes``.
    """

    kind = "multilabel"
    default_metric = "f1_micro"
    metrics = {
        "f1_micro": (lambda task, t, p: _indicator_f1(task, t, p, "micro"), True, False),
        "f1_macro": (lambda task, t, p: _indicator_f1(task, t, p, "macro"), True, False),
        "roc_auc": (
            lambda task, t, p: roc_auc_score(task._encode(t), p, average="micro"),
            True,
            True,
        ),
    }

    def present(self, labels):
        return np.fromiter((not _missing(v) for v in labels), dtype=bool, count=len(labels))

    def _sets(self, present: pd.Series) -> list:
        bad = [v for v in present if not isinstance(v, (list, tuple, set, frozenset, np.ndarray))]
        if bad:
            raise ValueError(
                f"Task {self.name!r} is 'multilabel': each label must be a list, tuple or set "
                f"of labels (None or NaN when missing); got {bad[0]!r}."
            )
        return [[label for label in v if not _missing(label)] for v in present]

    def _fit(self, present):
        every = [label for labels in self._sets(present) for label in labels]
        unhashable = [v for v in every if not isinstance(v, Hashable)]
        if unhashable:
            raise ValueError(f"Task {self.name!r}: labels must be hashable; got {unhashable[0]!r}.")
        self.classes = _sorted_classes(pd.unique(pd.Series(every, dtype=object)))
        if len(self.classes) == 0:
            raise ValueError(f"Task {self.name!r} (multilabel) has no label in any row of y.")

    @property
    def n_outputs(self) -> int:
        return len(self.classes)

    @property
    def n_targets(self) -> int:
        return len(self.classes)

    def unseen(self, truth):
        every = pd.Series([label for labels in self._sets(truth) for label in labels], dtype=object)
        codes = pd.Index(self.classes).get_indexer(every)
        return pd.unique(every[codes < 0]).tolist()

    def _encode(self, present):
        index = pd.Index(self.classes)
        out = np.zeros((len(present), len(self.classes)), dtype=np.float32)
        for row, labels in enumerate(self._sets(present)):
            codes = index.get_indexer(labels)
            if (codes < 0).any():
                unknown = [v for v, c in zip(labels, codes, strict=True) if c < 0][:5]
                raise ValueError(
                    f"Task {self.name!r}: y has labels not seen in fit: {unknown}; known "
                    f"labels are {list(self.classes)[:20]}."
                )
            out[row, codes] = 1.0
        return out

    @staticmethod
    def loss(output, target):
        # the negative log-likelihood of each row's label set (a sum over labels, as
        # cross-entropy is for a multiclass row), averaged over rows: a task with many labels
        # is not down-weighted by its label count
        losses = F.binary_cross_entropy_with_logits(
            output.reshape(target.shape), target, reduction="none"
        )
        return losses.sum(dim=1).mean()

    def proba(self, raw):
        return _sigmoid(raw.reshape(len(raw), -1))

    def export_output(self, output):
        return torch.sigmoid(output.reshape(output.shape[0], -1))

    def decode(self, raw):
        chosen = raw.reshape(len(raw), -1) > 0
        out = np.empty(len(raw), dtype=object)
        out[:] = [tuple(self.classes[row]) for row in chosen]
        return out


def _indicator_f1(task: MultilabelTask, truth: pd.Series, prediction, average: str) -> float:
    predicted = task._encode(pd.Series(list(prediction), dtype=object))
    return f1_score(task._encode(truth), predicted, average=average, zero_division=0.0)


def _missing(value) -> bool:
    if value is None:
        return True
    if isinstance(value, (float, np.floating)) and np.isnan(value):
        return True
    return value is pd.NA or value is pd.NaT


def _sorted_classes(values) -> np.ndarray:
    """The labels in sorted order; labels of types that do not compare (ints and strs) are
    sorted by type name, then value, and kept as objects so that none is converted."""
    values = list(values)
    try:
        ordered = sorted(values)
    except TypeError:
        ordered = sorted(values, key=lambda v: (type(v).__name__, str(v)))
    if len({type(v) for v in ordered}) > 1:
        out = np.empty(len(ordered), dtype=object)
        out[:] = ordered
        return out
    return np.array(ordered)


TASK_KINDS: dict[str, type[Task]] = {
    cls.kind: cls
    for cls in (RegressionTask, BinaryTask, MulticlassTask, MultilabelTask, ImplicitTask)
}
