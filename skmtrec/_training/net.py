"""The skorch side: the per-task losses, the net that balances them, a fast batch iterator."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import contextmanager, nullcontext
from functools import partial
from itertools import pairwise

import numpy as np
import torch
from skorch import NeuralNet
from skorch.callbacks import Callback, EarlyStopping
from skorch.utils import to_tensor
from torch import nn
from torch.utils.data import Subset

from .task_stopping import TaskCheckpoints


class MultiTaskLoss(nn.Module):
    """Per-task losses over the rows whose label is present: ``losses[j](output, target)``
    (each task's ``loss``).

    ``y_true`` holds each task's target columns side by side (``widths``), NaN where a label is
    missing. ``forward`` returns one loss per task (mean over present labels; 0 where a batch
    has none), given each task's ``labelled_rows``: the net finds them on the host, so that a
    batch on a GPU needs no boolean mask, which would make the host wait for the device.
    """

    def __init__(self, losses: Sequence[Callable], widths: Sequence[int]):
        super().__init__()
        self.losses = list(losses)
        bounds = np.cumsum([0, *widths])
        self.columns = [slice(int(a), int(b)) for a, b in pairwise(bounds)]

    def labelled_rows(self, y_true: torch.Tensor) -> list[torch.Tensor]:
        """Each task's rows with a present label, in order."""
        return [torch.nonzero(~torch.isnan(y_true[:, c.start])).flatten() for c in self.columns]

    def forward(
        self,
        y_pred: tuple[torch.Tensor, ...],
        y_true: torch.Tensor,
        rows: Sequence[torch.Tensor],
    ) -> torch.Tensor:
        losses = []
        for loss, columns, out, labelled in zip(
            self.losses, self.columns, y_pred, rows, strict=True
        ):
            if not len(labelled):
                losses.append(out.flatten()[:1].sum() * 0.0)  # a softmax's may hold -inf
                continue
            target = y_true[:, columns].index_select(0, labelled)
            losses.append(loss(out.index_select(0, labelled), target))
        return torch.stack(losses)


class MultiTaskNet(NeuralNet):
    """A skorch ``NeuralNet`` whose loss is the module's task balancing of per-task losses.

    Training batches are combined by ``module_.balancing`` (fixed, uncertainty, GradNorm or
    DWA weights); validation batches by the fixed task weights, so that early stopping compares
    like with like. Each batch also records every task's own loss in the history
    (``train_<task>_loss`` and ``valid_<task>_loss``), which ``PassthroughScoring`` callbacks
    average per epoch.
    """

    def __init__(self, *args, task_names=(), accelerator=None, autocast=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.task_names = task_names
        self.accelerator = accelerator
        self.autocast = autocast
        self._unread = None

    # Data-parallel training (an ``accelerate.Accelerator`` over several processes): every
    # process holds the whole data and the same weights; each reads its share of every training
    # batch (rows rank, rank + world, ...). Training batches go through torch's
    # DistributedDataParallel, which averages the gradients during the backward pass, a sparse
    # gradient (the rows a batch read of a large table) as its rows only, so the weights stay
    # identical and a step exchanges what its batch touched, not whole tables. Each batch's
    # losses are recorded for the whole batch, so that every process keeps the same history.
    # Validation is not split: every process scores all of it with the same weights, and early
    # stopping decides alike everywhere.
    @property
    def world_size(self) -> int:
        return 1 if self.accelerator is None else self.accelerator.num_processes

    def initialize(self):
        super().initialize()
        if self.world_size > 1:
            from accelerate.utils import broadcast

            # the main process's shuffling seed (its weights: DistributedDataParallel's start)
            seed = torch.randint(0, 2**62, (1,), device=self.accelerator.device)
            self.shuffle_seed_ = int(broadcast(seed, from_process=0).item())
            # each process its own stream of negatives and dropout masks for its own rows
            rank = self.accelerator.process_index
            torch.manual_seed((self.shuffle_seed_ + 1_000_003 * (rank + 1)) % 2**63)
            replicas = nn.parallel.DistributedDataParallel(
                self.module_,
                # the histories' buffers are the same data in every process: not sent before
                # each forward pass
                forward_sync_buffers=False,
                # dense gradients live in the exchange's buffers: no copy in or out
                gradient_as_bucket_view=True,
                # every parameter has a gradient at every step (a task with no labels in a
                # batch, a zero one), and the balancing's are used by the loss after forward
                find_unused_parameters=False,
            )
            # past skorch's registration of modules: a view of ``module_`` for the backward
            # pass's exchange, not a part of the net to save, move or pickle
            object.__setattr__(self, "_replicas", replicas)
        return self

    def on_train_end(self, net, X=None, y=None, **kwargs):
        # the wrapper holds the process group, which a fitted model does not keep (it pickles)
        self._replicas = None
        super().on_train_end(net, X=X, y=y, **kwargs)

    def infer(self, x, **fit_params):
        if isinstance(x, dict):
            # what pooling the histories reads is planned from the codes while still on the host
            plans = self.module_.plan_histories(x)
            x = {key: self._upload(value) for key, value in x.items()}
            if plans:
                plans = {name: plan.to(self._upload) for name, plan in plans.items()}
                fit_params = {**fit_params, "history_plans": plans}
        if self.autocast is None:
            return self._forward(x, **fit_params)
        with torch.autocast(torch.device(self.device).type, dtype=self.autocast):
            outputs = self._forward(x, **fit_params)
        return tuple(out.float() for out in outputs)

    def _forward(self, x, **fit_params):
        """The module's outputs; a training batch with several processes goes through the
        DistributedDataParallel wrapper, whose backward pass averages the gradients."""
        if self.world_size == 1 or not (self.module_.training and torch.is_grad_enabled()):
            return super().infer(x, **fit_params)
        if isinstance(x, dict):
            return self._replicas(**self._merge_x_and_fit_params(x, fit_params))
        return self._replicas(x, **fit_params)

    def get_iterator(self, dataset, training=False):
        iterator = super().get_iterator(dataset, training=training)
        if training and self.world_size > 1:
            iterator.shard = (self.accelerator.process_index, self.world_size)
            # the same order in every process, another each epoch
            epoch = len(self.history)
            iterator.generator = torch.Generator().manual_seed(self.shuffle_seed_ + epoch)
        return iterator

    def _sum_over_processes(self, tensor: torch.Tensor) -> torch.Tensor:
        from accelerate.utils import reduce

        return reduce(tensor, reduction="sum")

    @property
    def completed_epochs(self) -> int:
        """Epochs that ran to their end (an interrupted one does not count)."""
        return sum("train_loss" in row for row in self.history)

    @property
    def interrupted(self) -> bool:
        """Whether the last fit ended on a KeyboardInterrupt, which skorch ends training on
        quietly: before its last epoch, and not by early stopping (which skorch's
        ``EarlyStopping`` and ``TaskCheckpoints`` signal with the same exception)."""
        stopped_early = any(
            (isinstance(callback, EarlyStopping) and callback.misses_ == callback.patience)
            or (isinstance(callback, TaskCheckpoints) and callback.stopped_)
            for _, callback in self.callbacks_
        )
        return self.completed_epochs < self.max_epochs and not stopped_early

    # Training and validation batches ask the module for the outputs the losses need (a
    # softmax's logits over the catalog); prediction gets one score per row.
    def train_step_single(self, batch, **fit_params):
        with self.module_.training_loss_form():
            step = super().train_step_single(batch, **fit_params)
        if self.world_size > 1:
            # the whole batch's loss, as one process would have recorded it
            loss = step["loss"].detach().reshape(1)
            step["loss"] = (self._sum_over_processes(loss) / self.world_size)[0]
        return step

    def validation_step(self, batch, **fit_params):
        with self.module_.training_loss_form():
            return super().validation_step(batch, **fit_params)

    def get_loss(self, y_pred, y_true, X=None, training=False):
        # each task's labelled rows are found on the host, before the labels reach the device
        y_true = to_tensor(y_true, device="cpu")
        rows = self.criterion_.labelled_rows(y_true)
        counts = [len(labelled) for labelled in rows]
        losses = self.criterion_(
            y_pred, self._upload(y_true), [self._upload(labelled) for labelled in rows]
        )
        prefix = "train" if training else "valid"
        if training and self.world_size > 1:
            # each task's loss over the whole batch: its present labels in every process, a
            # count the device holds, read with the losses (see _record_batch)
            counted = torch.tensor(counts, dtype=losses.dtype, device=losses.device)
            totals = self._sum_over_processes(torch.stack([losses.detach() * counted, counted]))
            recorded = totals[0] / totals[1].clamp(min=1)
            for name, loss, count in zip(self.task_names, recorded, totals[1], strict=True):
                self._record_batch(f"{prefix}_{name}_loss", loss, count)
        else:
            for name, loss, count in zip(self.task_names, losses.detach(), counts, strict=True):
                if count > 0:
                    self._record_batch(f"{prefix}_{name}_loss", loss)
        balancing = self.module_.balancing
        if training:
            on_host = [count > 0 for count in counts]
            present = self._upload(torch.tensor(on_host))
            return balancing.training_loss(losses, present, self.module_, on_host)
        return balancing.validation_loss(losses)

    # Host synchronisation. On a GPU, reading a number back from the device makes the host wait
    # for every kernel queued before it, so a step that does so cannot queue the next one while
    # the device works. A batch's losses are therefore recorded in the history at the end of
    # the epoch, all read at once, unless a callback acts on each batch (a progress bar shows
    # the running loss): then each batch's as it ends, as skorch does. Batches go up to a GPU
    # from pinned host memory, without waiting: a copy from pageable memory may wait for the
    # stream (CUDA's "API synchronization behavior").
    def _upload(self, values) -> torch.Tensor:
        device = torch.device(self.device)
        tensor = torch.as_tensor(values)
        if device.type == "cuda" and tensor.device.type == "cpu":
            return tensor.pin_memory().to(device, non_blocking=True)
        return tensor.to(device)

    def _record_batch(self, key: str, value: torch.Tensor, count: torch.Tensor | None = None):
        """Records ``value`` (on the device) under ``key`` in the batch's history; with
        ``count`` (on the device too), only where it is above 0."""
        if self._unread is None:
            if count is None or count.item() > 0:
                self.history.record_batch(key, value.item())
        else:
            self._unread.append((len(self.history[-1]["batches"]) - 1, key, value, count))

    @contextmanager
    def deferred_records(self):
        """A context in which the batches' losses stay on the device, to be written into the
        history in one read as it ends (the counts that decide whether a loss is recorded,
        where given, in the same read)."""
        self._unread = []
        try:
            yield
        finally:
            self._read_recorded()

    def _read_recorded(self) -> None:
        unread, self._unread = self._unread or [], None
        if unread:
            values = [value for _, _, value, _ in unread]
            counts = [count.to(value.dtype) for _, _, value, count in unread if count is not None]
            read = torch.stack(values + counts).tolist()
            read_counts = iter(read[len(values) :])  # in the order of the losses that have one
            batches = self.history[-1]["batches"]
            for (batch, key, _, count), value in zip(unread, read, strict=False):
                if count is None or next(read_counts) > 0:
                    batches[batch][key] = value

    def _acts_on_each_batch(self) -> bool:
        return any(
            type(callback).on_batch_end is not Callback.on_batch_end
            for _, callback in self.callbacks_
        )

    def run_single_epoch(self, iterator, training, prefix, step_fn, **fit_params):
        # skorch's loop records each batch's loss with ``loss.item()``; unless a callback acts
        # on each batch, the step hands it a stand-in and the loss is read with the others
        deferred = nullcontext() if self._acts_on_each_batch() else self.deferred_records()
        try:
            with deferred:
                super().run_single_epoch(
                    iterator, training, prefix, partial(self._step, step_fn, prefix), **fit_params
                )
        finally:
            # rows of embedding tables that batches left out take the decay they missed, so
            # validation and checkpoints see AdamW's weights (see RowwiseAdamW)
            if training and hasattr(self.optimizer_, "catch_up"):
                self.optimizer_.catch_up()

    def _step(self, step_fn, prefix: str, batch, **fit_params) -> dict:
        step = step_fn(batch, **fit_params)
        if self._unread is None:
            return step
        self._record_batch(f"{prefix}_loss", step["loss"].detach())
        return {**step, "loss": _DeferredLoss()}


class _DeferredLoss:
    """A batch's loss that is read at the end of the epoch: skorch's loop records ``item()``
    (NaN) at once, and ``MultiTaskNet`` writes the loss over it when it reads the batches'."""

    def item(self) -> float:
        return float("nan")


class FiniteLoss(Callback):
    """Stops training whose loss is no longer finite, with an error that says what to try.

    A network whose loss became NaN or infinite predicts NaN for every row; returning it as
    fitted would hide the failure.

    Parameters
    ----------
    lr : float
        The learning rate, named in the error.
    """

    def __init__(self, lr: float):
        self.lr = lr

    def on_epoch_end(self, net, **kwargs):
        row = net.history[-1]
        for key in ("train_loss", "valid_loss"):
            value = row.get(key)
            if value is not None and not np.isfinite(value):
                raise FloatingPointError(
                    f"Training diverged: the {key.replace('_', ' ')} is {value} at epoch "
                    f"{row['epoch']}. Lower `lr` (now {self.lr:g}) or rescale extreme feature or "
                    "target values. The estimator keeps the model of its last successful fit, if "
                    "any."
                )


class TaskWeightHistory(Callback):
    """Records each task's training weight per epoch (``task_weight_<task>``) and lets the
    balancing method see the epoch's per-task training losses."""

    def __init__(self, task_names: Sequence[str]):
        self.task_names = task_names

    def on_epoch_end(self, net, **kwargs):
        balancing = net.module_.balancing
        row = net.history[-1]
        for name, weight in zip(self.task_names, balancing.weights().tolist(), strict=True):
            net.history.record(f"task_weight_{name}", weight)
        balancing.end_epoch([row.get(f"train_{name}_loss", np.nan) for name in self.task_names])


class ArrayBatchIterator:
    """Yields batches by slicing whole arrays, not by collating rows one at a time.

    It replaces torch's ``DataLoader`` as skorch's ``iterator_train`` and ``iterator_valid``:
    the net's data are a dict of arrays with one row per interaction, so a batch is one fancy
    index per array. ``negatives`` and ``cold_copies`` (``NegativeSampler``,
    ``ColdItemCopies``) extend each training batch, in that order. Shuffling draws from
    ``generator`` where one is set, else from torch's global generator, which the estimator
    seeds.
    """

    def __init__(
        self,
        dataset,
        batch_size: int = 1024,
        shuffle: bool = False,
        negatives=None,
        cold_copies=None,
        **_,
    ):
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.negatives = negatives
        self.cold_copies = cold_copies
        # data-parallel training: this process's (rank, world size), and a generator that
        # shuffles alike in every process
        self.shard: tuple[int, int] | None = None
        self.generator: torch.Generator | None = None

    def _arrays(self):
        dataset, rows = self.dataset, None
        while isinstance(dataset, Subset):
            sub = torch.as_tensor(np.asarray(dataset.indices), dtype=torch.long)
            rows = sub if rows is None else sub[rows]
            dataset = dataset.dataset
        X = {k: torch.as_tensor(v) for k, v in dataset.X.items()}
        y = None if dataset.y is None else torch.as_tensor(dataset.y)
        if rows is None:
            rows = torch.arange(len(dataset))
        return X, y, rows

    def __len__(self) -> int:
        return (len(self.dataset) + self.batch_size - 1) // self.batch_size

    def __iter__(self):
        X, y, rows = self._arrays()
        if self.shuffle:
            rows = rows[torch.randperm(len(rows), generator=self.generator)]
        # validation batches get the same negatives every epoch, so their loss compares
        generator = None if self.shuffle else torch.Generator().manual_seed(0)
        for start in range(0, len(rows), self.batch_size):
            batch = rows[start : start + self.batch_size]
            if self.shard is not None:
                rank, world = self.shard
                batch = batch[rank::world]
            X_batch = {k: v[batch] for k, v in X.items()}
            y_batch = None if y is None else y[batch]
            n_observed = len(batch)
            if self.negatives is not None and y_batch is not None:
                X_batch, y_batch = self.negatives(X_batch, y_batch, generator)
            if self.cold_copies is not None and y_batch is not None:
                X_batch, y_batch = self.cold_copies(X_batch, y_batch, n_observed)
            yield X_batch, y_batch
