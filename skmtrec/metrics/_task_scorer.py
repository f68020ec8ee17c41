"""make_task_scorer: a scorer for one task's metric, for ``scoring=`` in model selection."""

from __future__ import annotations

import numpy as np

from .._pipelines import final_step
from .._prepare.targets import targets_frame
from .._serving.unseen import silenced
from .._tasks import TASK_KINDS

# every metric some task kind offers (which apply to a task is the task's to say)
TASK_METRICS: tuple[str, ...] = tuple(
    sorted({metric for kind in TASK_KINDS.values() for metric in kind.metrics})
)


class _TaskScorer:
    def __init__(self, task: str, metric: str | None, clip: tuple[float, float] | None):
        self.task = task
        self.metric = metric
        self.clip = clip

    def __call__(self, estimator, X, y) -> float:
        recommender = final_step(estimator)
        tasks = recommender.fitted_tasks_
        if self.task not in tasks:
            raise ValueError(
                f"make_task_scorer: {self.task!r} is not a task of the estimator; its tasks are "
                f"{list(tasks)}."
            )
        task = tasks[self.task]
        metric = self.metric or task.default_metric
        if metric is None:
            raise ValueError(
                f"make_task_scorer: task {self.task!r} is {task.kind}; its observed rows are all "
                "positives, so score its rankings with make_ranking_scorer."
            )
        needs_proba = task.needs_proba(metric)
        truth = targets_frame(y, len(y), recommender.tasks_)[self.task]
        present = task.present(truth)
        if not present.any():
            return np.nan
        # an evaluation's held-out users or items (a cold-item split) are new by design
        with silenced("unseen"):
            if needs_proba:
                prediction = estimator.predict_proba(X, task=self.task)
            else:
                # predict, not predict_tasks, so that a Pipeline ending in the recommender works
                prediction = np.asarray(estimator.predict(X))
        if needs_proba:
            prediction = prediction[present]
        else:
            if prediction.ndim == 2:
                prediction = prediction[:, list(tasks).index(self.task)]
            prediction = prediction[present]
            if self.clip is not None:
                prediction = np.clip(prediction.astype(float), *self.clip)
        score = task.evaluate(metric, truth[present], prediction)
        return score if task.greater_is_better(metric) else -score

    def __repr__(self) -> str:
        return f"make_task_scorer({self.task!r}, {self.metric!r}, clip={self.clip!r})"


def make_task_scorer(
    task: str, metric: str | None = None, *, clip: tuple[float, float] | None = None
):
    """Make a scorer of one task's metric, for ``scoring=`` in GridSearchCV or cross_validate.

    Only the rows where the task's label is present count. Error metrics are negated, as in
    scikit-learn's ``neg_*`` scorers, so that greater is always better. A metric of
    probabilities (ROC AUC, log loss) refuses a label of a classification task that the model
    never saw in fit, with a ValueError naming it (the model has no probability for it); a
    metric of predictions counts such a row as wrong. Users and items never seen in fit (a
    cold-item split's, held out by design) are predicted without an ``UnseenIdWarning``.

    Parameters
    ----------
    task : str
        The task's name (a column of y).
    metric : str, default=None
        The metric, among those of the task's kind: "rmse", "mae", "r2" (regression);
        "accuracy", "roc_auc", "log_loss" (binary); "roc_auc", "log_loss" (implicit, on rows
        labelled 1 and 0); "accuracy", "log_loss", "f1_macro"
        (multiclass); "f1_micro", "f1_macro", "roc_auc" (multilabel). ``None``: the task's
        default metric, as in ``score``. Error metrics return their negative.
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
    ...            "auc": make_task_scorer("like", "roc_auc"),
    ...            "genres": make_task_scorer("genres")}  # its default, micro-F1
    """
    if metric is not None and metric not in TASK_METRICS:
        raise ValueError(f"Unknown metric {metric!r}; choose from {list(TASK_METRICS)}.")
    return _TaskScorer(task, metric, clip)
