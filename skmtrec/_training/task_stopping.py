"""Early stopping per task: each task keeps the network of the epoch its own validation loss
was lowest, and training runs until every task has stopped improving.

Tasks learnt together peak at different epochs (a rating overfits within a few epochs, a
multilabel attribute of the item keeps improving for tens), so one stopping point serves
none of them well. The network at each task's best epoch is kept; tasks whose best epoch is
the same share one copy.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
from skorch.callbacks import Callback


class TaskCheckpoints(Callback):
    """Keeps the module's weights at each task's lowest ``valid_<task>_loss`` and ends training
    once every task has gone ``patience`` epochs without a lower one.

    A loss is lower when it is below the best by more than ``threshold`` of it, as in
    skorch's ``EarlyStopping``. Each epoch also records ``valid_<task>_loss_best`` in the
    history. A task with no validation loss (no labels among the validation rows) is scored
    by the weighted validation loss instead. The weights are kept on the CPU.

    Parameters
    ----------
    task_names : sequence of str
        The tasks, in output order.
    patience : int
        Epochs without a lower validation loss after which a task has stopped.
    threshold : float, default=1e-4
        The relative decrease that counts as lower.
    sink : callable, default=print
        Where the message that training stopped goes.
    """

    def __init__(
        self, task_names: Sequence[str], patience: int, threshold: float = 1e-4, sink=print
    ):
        self.task_names = task_names
        self.patience = patience
        self.threshold = threshold
        self.sink = sink

    def initialize(self):
        self._reset()
        return self

    def _reset(self) -> None:
        self.best_loss_ = dict.fromkeys(self.task_names, np.inf)
        self.best_epoch_ = dict.fromkeys(self.task_names, 0)
        self.states_: dict[int, dict] = {}  # epoch: the module's weights then
        self.stopped_ = False

    def on_train_begin(self, net, **kwargs):
        self._reset()

    def on_epoch_end(self, net, **kwargs):
        row = net.history[-1]
        epoch = row["epoch"]
        improved = []
        for name in self.task_names:
            loss = row.get(f"valid_{name}_loss", row.get("valid_loss"))
            best = self.best_loss_[name]
            better = (
                loss is not None
                and np.isfinite(loss)
                and (best == np.inf or loss < best - abs(best) * self.threshold)
            )
            net.history.record(f"valid_{name}_loss_best", bool(better))
            if better:
                self.best_loss_[name], self.best_epoch_[name] = loss, epoch
                improved.append(name)
        if improved:
            state = net.module_.state_dict()
            self.states_[epoch] = {k: v.detach().to("cpu", copy=True) for k, v in state.items()}
            kept = set(self.best_epoch_.values())
            self.states_ = {e: s for e, s in self.states_.items() if e in kept}
        if all(epoch - best >= self.patience for best in self.best_epoch_.values()):
            self.stopped_ = True
            epochs = ", ".join(f"{name} {e}" for name, e in self.best_epoch_.items())
            self.sink(
                f"Stopping since no task's valid loss has improved in the last {self.patience} "
                f"epochs; each task keeps its best epoch ({epochs})."
            )
            raise KeyboardInterrupt

    def members(self, module, primary: int) -> tuple[list, list[int]]:
        """The networks to predict with, after training: ``module`` with each distinct best
        epoch's weights (the first: that of task ``primary``, loaded into ``module`` itself),
        and each task's network (an index into them). Copies are made of ``module`` as it is
        then, histories included."""
        epochs = [self.best_epoch_[name] for name in self.task_names]
        order = [epochs[primary], *sorted(set(epochs) - {epochs[primary]})]
        order = [e for e in order if e in self.states_]
        if not order:  # no validation loss was ever finite: the module as trained
            return [module], [0] * len(self.task_names)
        module.load_state_dict(self.states_[order[0]])
        members = [module, *(network_with(module, self.states_[e]) for e in order[1:])]
        # a task never scored keeps the first network
        task_member = [order.index(e) if e in order else 0 for e in epochs]
        return members, task_member


def network_with(module, weights: dict):
    """A copy of ``module`` (its histories and buffers included) with the ``weights`` of
    another epoch: one more network of a model stopped per task."""
    network = copy.deepcopy(module)
    network.load_state_dict(weights)
    return network


def task_members(net, tasks) -> tuple[list, list[int]] | None:
    """The networks a fit with per-task stopping predicts with, and each task's (see
    ``TaskCheckpoints.members``); ``net.module_`` becomes that of the task ``recommend`` ranks
    by by default (the first task where none ranks). None: the fit stopped once."""
    checkpoints = dict(net.callbacks_).get("task_checkpoints")
    if checkpoints is None:
        return None
    rankable = [j for j, task in enumerate(tasks) if task.rank_priority is not None]
    primary = min(rankable, key=lambda j: tasks[j].rank_priority) if rankable else 0
    members = checkpoints.members(net.module_, primary)
    checkpoints.states_ = {}  # the weights live in the members now, not in the net's pickle
    return members
