"""The skorch net that trains a network, built from the estimator's parameters.

Everything that decides how training runs lives here: the validation rows, the batch
iterators with their negatives and cold-item copies, the optimizer and its parameter groups,
which embedding tables give sparse gradients, mixed precision, the callbacks, and the
processes of a data-parallel fit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from sklearn.model_selection import ShuffleSplit
from skorch.callbacks import EarlyStopping, GradientNormClipping, PassthroughScoring, ProgressBar
from torch.utils.data import Subset

from .._prepare.catalog import Catalog, NegativeSampler
from .._prepare.targets import first_columns
from ..nn import MultiTaskNetwork
from .cold_copies import ColdItemCopies
from .net import ArrayBatchIterator, FiniteLoss, MultiTaskLoss, MultiTaskNet, TaskWeightHistory
from .optim import RowwiseAdamW
from .progress import EpochLine, FixedWeightTrainLoss
from .task_stopping import TaskCheckpoints

# Validation and prediction batches hold at least this many rows: no gradients are kept, so
# larger batches cost only memory.
PREDICT_BATCH_SIZE = 8192
# The task balancing's own parameters (log-variances, GradNorm's logits) learn this many times
# faster than the network: their optimum follows the falling task losses, which at the
# network's rate they trail by many epochs.
BALANCING_LR_FACTOR = 10.0
# An epoch of more steps than this decays the weights as much as this many steps would: each
# step's decay is scaled down by this over the steps, so that more rows of data, which
# support more of what the embeddings learn, do not decay them more per pass over the data.
DECAY_STEPS_PER_EPOCH = 100


class RowSplit:
    """skorch's ``train_split``: the rows the estimator chose for training and validation.

    The estimator owns the split (a ``ShuffleSplit`` of ``validation_fraction``), so that the
    histories can leave the validation rows out; skorch receives the same rows as
    ``torch.utils.data.Subset`` objects.
    """

    def __init__(self, train: np.ndarray, valid: np.ndarray):
        self.train, self.valid = train, valid

    @classmethod
    def shuffled(cls, n_samples: int, fraction: float, seed: int) -> RowSplit:
        split = ShuffleSplit(test_size=fraction, random_state=seed)
        return cls(*next(split.split(np.arange(n_samples))))

    def __call__(self, dataset, y=None, **_):
        return Subset(dataset, self.train), Subset(dataset, self.valid)


def validation_split(params: Mapping, n_samples: int, seed: int) -> RowSplit | None:
    """The rows held out for validation and early stopping (None: no validation)."""
    fraction = params["validation_fraction"]
    if fraction == 0:
        return None
    if int(n_samples * fraction) < 1 or n_samples < 2:
        raise ValueError(
            f"validation_fraction={fraction} leaves no validation row with "
            f"n_samples={n_samples}; raise it or set validation_fraction=0."
        )
    return RowSplit.shuffled(n_samples, fraction, seed)


def build_net(
    params: Mapping,
    spec: dict,
    tasks: Sequence,
    catalog: Catalog | None,
    module_state: dict,
    *,
    split: RowSplit | None,
    histories: dict | None,
    verbose: int,
    n_rows: int | None = None,
) -> MultiTaskNet:
    """The skorch net that trains the network of ``spec`` (with ``module_state``, the
    ``histories`` of the training rows), printing at ``verbose``; ``params`` are the
    estimator's parameters."""
    negatives = negative_sampler(params, tasks, catalog, spec["inputs"]["sides"])
    names = [task.name for task in tasks]
    batch_size, lr = params["batch_size"], params["lr"]
    rows_per_batch = batch_size * (1 + (params["negative_ratio"] if negatives is not None else 0))
    return MultiTaskNet(
        module=MultiTaskNetwork,
        module__spec=spec,
        module__history=histories,
        **{f"module__{name}": value for name, value in module_state.items()},
        criterion=MultiTaskLoss,
        criterion__losses=[task.loss for task in tasks],
        criterion__widths=[task.n_targets for task in tasks],
        task_names=names,
        autocast=autocast_dtype(params["mixed_precision"], params["device"]),
        # tables with more rows than a batch reads give sparse gradients and are updated in
        # the rows read only, so that a step's cost does not grow with them (RowwiseAdamW).
        # Not with several processes: DistributedDataParallel's sparse all-reduce over gloo
        # segfaulted in about 1 run in 8 on a loaded CPU (torch 2.13), dense never in 20
        module__sparse_above=(
            None if _clips_gradients(params) or params["distributed"] else rows_per_batch
        ),
        optimizer=RowwiseAdamW,
        optimizer__weight_decay=step_weight_decay(params, n_rows),
        optimizer__param_groups=[
            ("balancing.*", {"weight_decay": 0.0, "lr": lr * BALANCING_LR_FACTOR}),
            # a softmax's dot products must be free to sharpen against the decayed vectors
            ("dot.*", {"weight_decay": 0.0}),
        ],
        lr=lr,
        batch_size=batch_size,
        max_epochs=params["max_epochs"],
        iterator_train=ArrayBatchIterator,
        iterator_train__shuffle=True,
        iterator_train__negatives=negatives,
        iterator_train__cold_copies=cold_item_copies(params, tasks, spec),
        iterator_valid=ArrayBatchIterator,
        iterator_valid__negatives=negatives,
        iterator_valid__batch_size=max(batch_size, PREDICT_BATCH_SIZE),
        train_split=split,
        callbacks=callbacks(params, names, with_validation=split is not None, verbose=verbose),
        callbacks__print_log=None,  # EpochLine prints instead of skorch's table
        device=params["device"],
        verbose=verbose,
    )


def step_weight_decay(params: Mapping, n_rows: int | None) -> float:
    """The optimizer's weight decay per step for an epoch of ``n_rows`` training rows: the
    estimator's ``weight_decay``, scaled down past ``DECAY_STEPS_PER_EPOCH`` steps (None:
    unscaled, for a net that will not train)."""
    steps = 1 if n_rows is None else -(-n_rows // params["batch_size"])
    return params["weight_decay"] * min(1.0, DECAY_STEPS_PER_EPOCH / steps)


def negative_sampler(params: Mapping, tasks, catalog, sides) -> NegativeSampler | None:
    """What draws the implicit tasks' negatives for each batch (None: no implicit task)."""
    if catalog is None and any(task.implied_by_rows for task in tasks):
        name = next(task.name for task in tasks if task.implied_by_rows)
        raise ValueError(
            f"Task {name!r} is 'implicit': ranking items needs user and item ids; set "
            "`user_col` and `item_col`."
        )
    columns = zip(first_columns(tasks), tasks, strict=True)
    implicit = [c for c, task in columns if task.samples_negatives]
    if not implicit:
        return None
    item_side = sides.get("item", {})
    return NegativeSampler(
        catalog,
        params["negative_ratio"],
        implicit,
        tuple(item_side.get("numeric", ())),
        tuple(item_side.get("categorical", ())),
    )


def cold_item_copies(params: Mapping, tasks, spec) -> ColdItemCopies | None:
    """What adds each batch's cold-item copies (None: off, or no item features to learn from:
    a copy would be the unseen-item row again)."""
    share = params["cold_item_copies"]
    item_side = spec["inputs"]["sides"].get("item", {})
    has_features = bool(item_side.get("numeric") or item_side.get("categorical"))
    if not (share > 0 and spec["inputs"]["n_items"] and has_features):
        return None
    columns = zip(first_columns(tasks), tasks, strict=True)
    return ColdItemCopies(share, [c for c, task in columns if task.implied_by_rows])


def callbacks(params: Mapping, names: list[str], *, with_validation: bool, verbose: int) -> list:
    """The net's callbacks: a finite-loss check, per-task losses, task weights, the training
    loss at the fixed task weights, a line per epoch at ``verbose >= 1`` and a progress bar
    over its batches at ``verbose >= 2``, early stopping (per task with ``stop_per_task`` and
    several tasks), then the user's ``callbacks``."""
    out = [("finite_loss", FiniteLoss(params["lr"]))]
    if verbose >= 2:
        # no running losses on the bar: skorch's would be the balanced training loss, on
        # another scale than the line's
        out.append(("progress_bar", ProgressBar(postfix_keys=[])))
    for name in names:
        out.append((f"train_{name}_loss", PassthroughScoring(f"train_{name}_loss", None, True)))
        if with_validation:
            out.append((f"valid_{name}_loss", PassthroughScoring(f"valid_{name}_loss", None)))
    out.append(("task_weights", TaskWeightHistory(names)))
    out.append(("train_loss_fixed_weights", FixedWeightTrainLoss(names)))
    stops_early = with_validation and params["patience"] is not None
    if verbose >= 1:
        # before early stopping, which ends training before the callbacks after it see the
        # last epoch
        out.append(("epoch_line", EpochLine(names, stops_early=stops_early)))
    sink = print if verbose else _silent
    if stops_early and params["stop_per_task"] and len(names) > 1:
        out.append(("task_checkpoints", TaskCheckpoints(names, params["patience"], sink=sink)))
    elif stops_early:
        early = EarlyStopping(
            monitor="valid_loss", patience=params["patience"], load_best=True, sink=sink
        )
        out.append(("early_stopping", early))
    return out + list(params["callbacks"] or [])


def _clips_gradients(params: Mapping) -> bool:
    """Whether a callback clips gradient norms: torch's ``clip_grad_norm_`` cannot read
    sparse gradients, so the tables then give dense ones."""
    given = [c[1] if isinstance(c, tuple) else c for c in params["callbacks"] or ()]
    return any(isinstance(c, GradientNormClipping) for c in given)


def accelerator(device):
    """An ``accelerate.Accelerator`` over the processes its launcher started (on the CPU when
    ``device`` is)."""
    try:
        from accelerate import Accelerator
    except ImportError as error:
        raise ImportError(
            "distributed=True needs the accelerate package: pip install 'skmtrec[distributed]'."
        ) from error
    return Accelerator(cpu=torch.device(device).type == "cpu")


def autocast_dtype(mixed_precision: str, device) -> torch.dtype | None:
    """The dtype ``mixed_precision`` trains and predicts in (None: float32 throughout)."""
    if mixed_precision == "bf16":
        return torch.bfloat16
    device = torch.device(device)
    if mixed_precision == "auto" and device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return None


def cuda_devices(device) -> list[int]:
    """The CUDA devices whose random state a fit on ``device`` forks."""
    device = torch.device(device)
    if device.type != "cuda":
        return []
    return [device.index if device.index is not None else torch.cuda.current_device()]


def _silent(*args, **kwargs) -> None:
    pass
