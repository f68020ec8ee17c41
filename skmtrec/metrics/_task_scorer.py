"""make_task_scorer: a scorer for one task's metric, for ``scoring=`` in model selection."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    log_loss,
    mean_absolute_error,
    r2_score,
    roc_auc_score,
    root_mean_squared_error,
)

from .._tasks import targets_frame
from ._ranking_scorer import _final_step

# name -> (metric, sign, needs class probabilities)
TASK_METRICS: dict[str, tuple[Callable, int, bool]] = {
    "rmse": (root_mean_squared_error, -1, False),
    "mae": (mean_absolute_error, -1, False),
    "r2": (r2_score, 1, False),
    "accuracy": (accuracy_score, 1, False),
    "roc_auc": (roc_auc_score, 1, True),
    "log_loss": (log_loss, -1, True),
}


class _TaskScorer:
    def __init__(self, task: str, metric: str, clip: tuple[float, float] | None):
        self.task = task
        self.metric = metric
        self.clip = clip

    def __call__(self, estimator, X, y) -> float:
        func, sign, needs_proba = TASK_METRICS[self.metric]
        recommender = _final_step(estimator)
        tasks = list(recommender.tasks_)
        if self.task not in tasks:
            raise ValueError(
                f"make_task_scorer: {self.task!r} is not a task of the estimator; its tasks are "
                f"{tasks}."
            )
        truth = targets_frame(y, len(y), recommender.tasks_)[self.task]
        present = truth.notna().to_numpy()
        if not present.any():
            return np.nan
        truth = truth[present].to_numpy()
        if needs_proba:
            proba = estimator.predict_proba(X, task=self.task)[present]
            classes = recommender.classes_[self.task]
            if len(classes) == 2 and self.metric == "roc_auc":
                score = func(truth == classes[1], proba[:, 1])
            else:
                score = func(truth, proba, labels=classes)
        else:
            # predict, not predict_tasks, so that a Pipeline ending in the recommender works
            pred = np.asarray(estimator.predict(X))
            pred = (pred if pred.ndim == 1 else pred[:, tasks.index(self.task)])[present]
            if self.clip is not None:
                pred = np.clip(pred, *self.clip)
            score = func(truth, pred)
        return sign * float(score)

    def __repr__(self) -> str:
        return f"make_task_scorer({self.task!r}, {self.metric!r}, clip={self.clip!r})"


def make_task_scorer(task: str, metric: str, *, clip: tuple[float, float] | None = None):
    """Make a scorer of one task's metric, for ``scoring=`` in GridSearchCV or cross_validate.

    Only the rows where the task's label is present count. Error metrics are negated, as in
    scikit-learn's ``neg_*`` scorers, so that greater is always better.

    Parameters
    ----------
    task : str
        The task's name (a column of y).
    metric : {"rmse", "mae", "r2", "accuracy", "roc_auc", "log_loss"}
        The metric. ``rmse`` and ``mae`` return their negative, as does ``log_loss``.
    clip : tuple of (float, float), default=None
        Clip predictions of a regression task to this range first (e.g. ratings to (1, 5)).

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y)`` -> float.

    Examples
    --------
    >>> from skmtrec import make_task_scorer
    >>> scoring = {"rmse": make_task_scorer("rating", "rmse"),
    ...            "auc": make_task_scorer("like", "roc_auc")}
    """
    if metric not in TASK_METRICS:
        raise ValueError(f"Unknown metric {metric!r}; choose from {sorted(TASK_METRICS)}.")
    return _TaskScorer(task, metric, clip)
