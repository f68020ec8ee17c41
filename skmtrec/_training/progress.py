"""What a fit reports while it trains: a line per epoch, and scikit-learn's callbacks.

``EpochLine`` replaces skorch's ``PrintLog`` table at ``verbose >= 1``: one short plain-text
line per epoch (no colour codes, which log files and notebooks show as noise). The losses it
prints are on one scale: the validation loss weighs the task losses by the fixed task weights,
and so does ``train_loss_fixed_weights`` (``FixedWeightTrainLoss``), while skorch's
``train_loss`` is the loss the task balancing optimises (under uncertainty weighting it adds
the log-variances and can be negative).

``SklearnEpochs`` reports each epoch to scikit-learn's callbacks (``set_callbacks``, from
scikit-learn 1.9) as a subtask of the fit; ``SklearnCallbacks`` is scikit-learn's
``CallbackSupportMixin`` where the installed version has it, an empty class before.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

import numpy as np
from skorch.callbacks import Callback

try:
    from sklearn.callback import CallbackSupportMixin
except ImportError:  # scikit-learn < 1.9 has no callback API
    CallbackSupportMixin = None

# The history key of the training loss at the fixed task weights, as the validation loss is.
TRAIN_LOSS_FIXED = "train_loss_fixed_weights"


class FixedWeightTrainLoss(Callback):
    """Records ``train_loss_fixed_weights``: each training batch's task losses weighed by the
    fixed task weights (a task absent from a batch adds 0), averaged over the epoch by batch
    size, exactly as skorch averages the validation batches' losses into ``valid_loss``.

    Parameters
    ----------
    task_names : sequence of str
        The tasks, in output order.
    """

    def __init__(self, task_names: Sequence[str]):
        self.task_names = task_names

    def on_epoch_end(self, net, **kwargs):
        weights = net.module_.balancing.task_weights.tolist()
        keys = [f"train_{name}_loss" for name in self.task_names]
        sizes, losses = [], []
        for batch in net.history[-1]["batches"]:
            if "train_batch_size" not in batch:
                continue
            sizes.append(batch["train_batch_size"])
            losses.append(sum(w * batch.get(k, 0.0) for w, k in zip(weights, keys, strict=True)))
        if sizes:
            net.history.record(TRAIN_LOSS_FIXED, float(np.average(losses, weights=sizes)))


class EpochLine(Callback):
    """Prints one plain-text line per epoch, at ``net.verbose``.

    For example (with a validation split)::

        epoch  3/50  train 0.5123  valid 0.5234 (rating 0.8811)  1.2s  at most 56s left  best

    ``train`` is ``train_loss_fixed_weights`` and ``valid`` is ``valid_loss``, both at the
    fixed task weights; in brackets, each task's own validation loss (its training loss
    without a validation split). Then the epoch's seconds and the time left, from the mean
    epoch time over the epochs left to ``max_epochs`` ("at most" where early stopping may end
    sooner), and ``best`` where the loss shown first (valid, else train) is the lowest yet.

    Parameters
    ----------
    task_names : sequence of str
        The tasks, in output order.
    stops_early : bool, default=False
        Whether early stopping may end training before ``max_epochs``.
    sink : callable, default=print
        Where each line goes; ``print`` writes only where ``net.verbose``, as skorch's
        ``PrintLog`` does.
    """

    def __init__(self, task_names: Sequence[str], stops_early: bool = False, sink=print):
        self.task_names = task_names
        self.stops_early = stops_early
        self.sink = sink

    def on_train_begin(self, net, **kwargs):
        self.durations_: list[float] = []
        self.best_ = np.inf

    def on_epoch_end(self, net, **kwargs):
        row = net.history[-1]
        self.durations_.append(row.get("dur", 0.0))
        epoch, total = len(self.durations_), net.max_epochs
        validated = "valid_loss" in row
        main = row["valid_loss"] if validated else row.get(TRAIN_LOSS_FIXED, row["train_loss"])
        prefix = "valid" if validated else "train"
        tasks = ", ".join(
            f"{name} {row[key]:.4g}"
            for name in self.task_names
            if (key := f"{prefix}_{name}_loss") in row
        )
        parts = [f"epoch {epoch:>{len(str(total))}}/{total}"]
        parts.append(f"train {row.get(TRAIN_LOSS_FIXED, row['train_loss']):.4f}")
        if validated:
            parts.append(f"valid {row['valid_loss']:.4f}")
        if tasks:
            parts[-1] += f" ({tasks})"
        parts.append(f"{self.durations_[-1]:.1f}s")
        if epoch < total:
            left = _duration(np.mean(self.durations_) * (total - epoch))
            parts.append(f"at most {left} left" if self.stops_early else f"{left} left")
        if main < self.best_:
            self.best_ = main
            parts.append("best")
        if self.sink is not print or net.verbose:
            self.sink("  ".join(parts))
            if self.sink is print:
                sys.stdout.flush()


def _duration(seconds: float) -> str:
    """``seconds`` as 42s, 3m05s or 1h02m."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


if CallbackSupportMixin is not None:

    class SklearnCallbacks(CallbackSupportMixin):
        """scikit-learn's callback support: ``set_callbacks(ProgressBar())`` and the like
        see the fit as a task of ``max_epochs`` subtasks, one per epoch."""

else:

    class SklearnCallbacks:
        """scikit-learn before 1.9 has no callback API: nothing to support."""


class SklearnEpochs(Callback):
    """Reports each epoch to the estimator's scikit-learn callbacks as a subtask of the fit.

    Built by ``begin``, which starts the fit's task; the estimator ends it once fitted
    (``end``). A callback that asks to stop at the end of an epoch ends training
    there, as early stopping does (``stopped``), where ``stops`` allows it.

    Parameters
    ----------
    estimator : estimator
        The estimator being fitted.
    context : sklearn.callback.CallbackContext
        The fit's task.
    X, y : object
        The data given to ``fit``, passed on to the callbacks.
    fitted_attributes : callable
        Returns the fitted attributes of an estimator that predicts with the network as it is
        (read only when a callback asks for a ``fitted_estimator``).
    stops : bool, default=True
        Whether a callback may stop training (not in a data-parallel fit, whose processes
        must stop together).
    """

    def __init__(
        self,
        estimator,
        context,
        X,
        y,
        fitted_attributes: Callable[[], dict],
        stops: bool = True,
    ):
        self.estimator = estimator
        self.context = context
        self.X, self.y = X, y
        self.fitted_attributes = fitted_attributes
        self.stops = stops
        self.stopped = False
        self._epoch = None

    @classmethod
    def begin(cls, estimator, max_epochs: int, X, y, fitted_attributes, stops=True):
        """The fit's task, begun, for an estimator that supports scikit-learn's callbacks
        (None: the installed scikit-learn has none)."""
        if not hasattr(estimator, "_init_callback_context"):
            return None
        context = estimator._init_callback_context(max_subtasks=max_epochs)
        context.call_on_fit_task_begin(estimator=estimator, X=X, y=y)
        return cls(estimator, context, X, y, fitted_attributes, stops)

    def on_epoch_begin(self, net, **kwargs):
        self._epoch = self.context.subcontext(task_name="epoch")
        self._epoch.call_on_fit_task_begin(estimator=self.estimator, X=self.X, y=self.y)

    def on_epoch_end(self, net, **kwargs):
        epoch, self._epoch = self._epoch, None
        stop = epoch.call_on_fit_task_end(
            estimator=self.estimator,
            X=self.X,
            y=self.y,
            reconstruction_attributes=self.fitted_attributes,
        )
        if stop and self.stops and len(net.history) < net.max_epochs:
            self.stopped = True
            raise KeyboardInterrupt  # skorch ends training on it, as for early stopping

    def on_train_end(self, net, **kwargs):
        # an epoch that early stopping (or an interrupt) ended before this callback saw it
        if self._epoch is not None:
            self._epoch.call_on_fit_task_end(estimator=self.estimator)
            self._epoch = None

    def end(self, X, y) -> None:
        """Ends the fit's task, the estimator fitted."""
        self.context.call_on_fit_task_end(
            estimator=self.estimator, X=X, y=y, reconstruction_attributes={}
        )
