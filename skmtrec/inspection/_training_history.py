"""Per-task training and validation losses, and the task weights, over the epochs of a fit."""

from __future__ import annotations

import numpy as np
from sklearn.utils.validation import check_is_fitted

from .._pipelines import final_step
from ._pyplot import axes_for, pyplot


class TrainingHistoryDisplay:
    """Training and validation loss of each task per epoch, and each task's weight when the
    weights adapt, drawn with matplotlib (the ``plot`` extra).

    Build it with ``from_estimator``; ``plot`` draws it. In the style of scikit-learn's
    ``LearningCurveDisplay``.

    Parameters
    ----------
    epochs : ndarray of shape (n_epochs,)
        Epoch numbers, from 1.
    train_losses, valid_losses : dict of {str: ndarray of shape (n_epochs,)}
        Each task's mean loss per epoch on the training rows and the validation split (NaN in
        an epoch where the task had no label; ``valid_losses`` is empty without a split).
    task_weights : dict of {str: ndarray of shape (n_epochs,)} or None
        Each task's training weight per epoch, when the balancing adapts them; None otherwise.
    best_epoch : int, dict of {str: int} or None
        The epoch whose weights the model kept (early stopping), if any; with per-task
        stopping (``stop_per_task``), each task's.

    Attributes
    ----------
    figure_ : matplotlib Figure
        The figure drawn by ``plot``.
    ax_ : ndarray of matplotlib Axes
        Its axes: the losses, then the task weights when they adapt.
    lines_ : dict of {str: matplotlib Line2D}
        Every line, keyed ``"train <task>"``, ``"valid <task>"`` and ``"weight <task>"``.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from skmtrec import MultiTaskRecommender
    >>> from skmtrec.datasets import make_interactions
    >>> from skmtrec.inspection import TrainingHistoryDisplay
    >>> X, y = make_interactions(n_interactions=2000, random_state=0)
    >>> model = MultiTaskRecommender(
    ...     tasks={"rating": "regression", "like": "binary"}, max_epochs=3, random_state=0
    ... ).fit(X.drop(columns="item_text"), y[["rating", "like"]])
    >>> display = TrainingHistoryDisplay.from_estimator(model)
    >>> sorted(display.lines_)
    ['train like', 'train rating', 'valid like', 'valid rating', 'weight like', 'weight rating']
    """

    def __init__(self, *, epochs, train_losses, valid_losses, task_weights=None, best_epoch=None):
        self.epochs = epochs
        self.train_losses = train_losses
        self.valid_losses = valid_losses
        self.task_weights = task_weights
        self.best_epoch = best_epoch

    @classmethod
    def from_estimator(cls, estimator, *, ax=None) -> TrainingHistoryDisplay:
        """Read a fitted ``MultiTaskRecommender``'s history and draw it.

        Parameters
        ----------
        estimator : MultiTaskRecommender or Pipeline ending in one
            Fitted.
        ax : matplotlib Axes or array of Axes, default=None
            Where to draw (one Axes for the losses, two when the weights adapt); a new figure
            by default.

        Returns
        -------
        display : TrainingHistoryDisplay
        """
        recommender = final_step(estimator)
        check_is_fitted(recommender, "net_")
        history = recommender.net_.history
        tasks = list(recommender.tasks_)

        def column(key: str) -> np.ndarray:
            return np.array([row.get(key, np.nan) for row in history], dtype=float)

        train = {task: column(f"train_{task}_loss") for task in tasks}
        valid = {task: column(f"valid_{task}_loss") for task in tasks}
        valid = {task: values for task, values in valid.items() if not np.isnan(values).all()}
        weights = {task: column(f"task_weight_{task}") for task in tasks}
        adapts = any(np.nanmax(w) - np.nanmin(w) > 0 for w in weights.values() if len(w))
        best = [row["epoch"] for row in history if row.get("valid_loss_best")]
        best_epoch = best[-1] if best else None
        if any(f"valid_{task}_loss_best" in row for row in history for task in tasks):
            best_epoch = {
                task: max(
                    (row["epoch"] for row in history if row.get(f"valid_{task}_loss_best")),
                    default=None,
                )
                for task in tasks
            }
            best_epoch = {task: epoch for task, epoch in best_epoch.items() if epoch is not None}
        display = cls(
            epochs=column("epoch").astype(int),
            train_losses=train,
            valid_losses=valid,
            task_weights=weights if adapts else None,
            best_epoch=best_epoch,
        )
        return display.plot(ax=ax)

    def plot(self, *, ax=None) -> TrainingHistoryDisplay:
        """Draw the losses (and the weights, when they adapt).

        Parameters
        ----------
        ax : matplotlib Axes or array of Axes, default=None
            Where to draw; a new figure by default.

        Returns
        -------
        self : TrainingHistoryDisplay
        """
        plt = pyplot("TrainingHistoryDisplay")
        n_axes = 1 if self.task_weights is None else 2
        # "history" names it in the message of a wrong count of Axes
        axes = axes_for(ax, n_axes, "history", figsize=(5.5 * n_axes, 4))
        self.lines_ = {}
        colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        for j, (task, values) in enumerate(self.train_losses.items()):
            color = colors[j % len(colors)]
            (self.lines_[f"train {task}"],) = axes[0].plot(
                self.epochs, values, color=color, label=f"{task} (train)"
            )
            if task in self.valid_losses:
                (self.lines_[f"valid {task}"],) = axes[0].plot(
                    self.epochs,
                    self.valid_losses[task],
                    color=color,
                    linestyle="--",
                    label=f"{task} (validation)",
                )
        if isinstance(self.best_epoch, dict):
            for task, epoch in self.best_epoch.items():
                color = colors[list(self.train_losses).index(task) % len(colors)]
                axes[0].axvline(epoch, color=color, linewidth=0.8, label=f"{task} kept")
        elif self.best_epoch is not None:
            axes[0].axvline(self.best_epoch, color="grey", linewidth=0.8, label="kept epoch")
        axes[0].set(xlabel="epoch", ylabel="loss", title="Loss per task")
        axes[0].legend(fontsize="small")
        if self.task_weights is not None:
            for j, (task, values) in enumerate(self.task_weights.items()):
                (self.lines_[f"weight {task}"],) = axes[1].plot(
                    self.epochs, values, color=colors[j % len(colors)], label=task
                )
            axes[1].set(xlabel="epoch", ylabel="weight", title="Task weights")
            axes[1].legend(fontsize="small")
        self.ax_ = axes
        self.figure_ = axes[0].figure
        return self
