"""The skorch side: the masked per-task loss, the net that weighs it, and a fast batch iterator."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from skorch import NeuralNet
from skorch.utils import to_tensor
from torch import nn
from torch.utils.data import Subset


class MaskedTaskLosses(nn.Module):
    """Per-task losses over the rows whose label is present.

    ``y_true`` has one column per task, NaN where a label is missing. ``forward`` returns a tensor
    with one loss per task (mean over present labels; 0 where a batch has none) and the count of
    present labels per task.
    """

    def __init__(self, kinds: tuple[str, ...]):
        super().__init__()
        self.kinds = tuple(kinds)

    def forward(self, y_pred: tuple[torch.Tensor, ...], y_true: torch.Tensor):
        losses, counts = [], []
        for j, (kind, out) in enumerate(zip(self.kinds, y_pred, strict=True)):
            target = y_true[:, j]
            present = ~torch.isnan(target)
            n = present.sum()
            counts.append(n)
            if not bool(n):
                losses.append(out.sum() * 0.0)
                continue
            out, target = out[present], target[present]
            if kind == "regression":
                losses.append(F.mse_loss(out, target))
            elif kind in ("binary", "implicit"):
                losses.append(F.binary_cross_entropy_with_logits(out, target))
            else:
                losses.append(F.cross_entropy(out, target.long()))
        return torch.stack(losses), torch.stack(counts)


class MultiTaskNet(NeuralNet):
    """A skorch ``NeuralNet`` whose loss is the weighted sum of per-task losses.

    Each batch also records every task's own loss in the history (``train_<task>_loss`` and
    ``valid_<task>_loss``), which ``PassthroughScoring`` callbacks average per epoch.
    """

    def __init__(self, *args, task_names=(), task_weights=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.task_names = task_names
        self.task_weights = task_weights

    def get_loss(self, y_pred, y_true, X=None, training=False):
        y_true = to_tensor(y_true, device=self.device)
        losses, counts = self.criterion_(y_pred, y_true)
        weights = torch.as_tensor(self.task_weights, dtype=losses.dtype, device=losses.device)
        prefix = "train" if training else "valid"
        for name, loss, count in zip(self.task_names, losses, counts, strict=True):
            if count > 0:
                self.history.record_batch(f"{prefix}_{name}_loss", loss.item())
        return (weights * losses).sum()


class ArrayBatchIterator:
    """Yields batches by slicing whole arrays, not by collating rows one at a time.

    It replaces torch's ``DataLoader`` as skorch's ``iterator_train`` and ``iterator_valid``:
    the net's data are a dict of arrays with one row per interaction, so a batch is one fancy
    index per array. Shuffling draws from torch's global generator, which the estimator seeds.
    """

    def __init__(self, dataset, batch_size: int = 1024, shuffle: bool = False, negatives=None, **_):
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.negatives = negatives

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
            rows = rows[torch.randperm(len(rows))]
        # validation batches get the same negatives every epoch, so their loss compares
        generator = None if self.shuffle else torch.Generator().manual_seed(0)
        for start in range(0, len(rows), self.batch_size):
            batch = rows[start : start + self.batch_size]
            X_batch = {k: v[batch] for k, v in X.items()}
            y_batch = None if y is None else y[batch]
            if self.negatives is not None and y_batch is not None:
                X_batch, y_batch = self.negatives(X_batch, y_batch, generator)
            yield X_batch, y_batch
