"""A training step does not read numbers back from the device.

On a GPU such a read (``.item()``, ``.tolist()``, ``bool(t)``, a boolean mask, ``torch.unique``)
makes the host wait for every kernel queued before it. The ops that read are the same on every
device, so they are counted here on the CPU, with a dispatch mode that sees every op. The
batch's assembly (the iterator, sampled negatives included), each task's labelled rows
(``labelled_rows``) and the histories' pooling plans (``plan_histories``) are host work on host
data, and are not counted.
"""

from __future__ import annotations

import collections
from contextlib import contextmanager

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from skmtrec import MultiTaskRecommender
from skmtrec._training import net as _net
from skmtrec.nn import _history, _network

# ops whose result the host must see before it can go on: a value, or an output size
READS = {
    "aten._local_scalar_dense.default",
    "aten.nonzero.default",
    "aten.masked_select.default",
    "aten._unique2.default",
    "aten.unique_dim.default",
    "aten.unique_consecutive.default",
    "aten.masked_scatter.default",
    "aten._coalesce.default",
    "aten.index_fill_.int_Tensor",  # fills with a tensor's value, which it reads back
}


class CountReads(TorchDispatchMode):
    """Counts ops that read from the device while ``counting`` is set."""

    def __init__(self):
        super().__init__()
        self.reads = collections.Counter()
        self.counting = False

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = str(func)
        read = name in READS
        if name in ("aten.index.Tensor", "aten.index_put.default", "aten.index_put_.default"):
            read = any(i is not None and i.dtype == torch.bool for i in args[1])
        if name == "aten.repeat_interleave.Tensor":
            read = (kwargs or {}).get("output_size") is None
        if read and self.counting:
            self.reads[name] += 1
        return func(*args, **(kwargs or {}))


@pytest.fixture
def reads(monkeypatch):
    mode = CountReads()
    lists = []

    @contextmanager
    def on_host():
        counting, mode.counting = mode.counting, False
        try:
            yield
        finally:
            mode.counting = counting

    def host(function):
        def wrapped(*args, **kwargs):
            with on_host():
                return function(*args, **kwargs)

        return wrapped

    def host_iterator(function):
        def wrapped(self):
            batches = function(self)
            while True:
                with on_host():
                    batch = next(batches, None)
                if batch is None:
                    return
                yield batch

        return wrapped

    epoch = _net.MultiTaskNet.run_single_epoch

    def counted_epoch(self, *args, **kwargs):
        mode.counting = True
        try:
            with mode:
                return epoch(self, *args, **kwargs)
        finally:
            mode.counting = False

    tolist = torch.Tensor.tolist

    def counted_tolist(self):
        if mode.counting:
            lists.append(self.shape)
        return tolist(self)

    monkeypatch.setattr(_net.MultiTaskNet, "run_single_epoch", counted_epoch)
    monkeypatch.setattr(
        _net.ArrayBatchIterator, "__iter__", host_iterator(_net.ArrayBatchIterator.__iter__)
    )
    monkeypatch.setattr(_net.MultiTaskLoss, "labelled_rows", host(_net.MultiTaskLoss.labelled_rows))
    network = _network.MultiTaskNetwork
    monkeypatch.setattr(network, "plan_histories", host(network.plan_histories))
    monkeypatch.setattr(torch.Tensor, "tolist", counted_tolist)
    return mode, lists


def test_an_epoch_reads_its_losses_once_however_many_batches(reads, interactions):
    """An epoch of a regression, a binary task with missing labels and an implicit task
    (sampled negatives, cold-item copies), without histories (see below for them), reads from
    the device once per pass (training, then validation): its batches' losses, all at once."""
    mode, lists = reads
    X, y = interactions
    model = MultiTaskRecommender(
        {"rating": "regression", "like": "binary", "interacted": "implicit"},
        user_history=False,
        item_history=False,
        batch_size=512,
        max_epochs=1,
        random_state=0,
    ).fit(X, y[["rating", "like"]])
    history = model.net_.history
    assert len(history[-1]["batches"]) > 20  # 12,000 rows in batches of 512
    assert mode.reads == {}, mode.reads
    assert len(lists) == 2  # the training pass's read, and the validation pass's
    # every batch's losses reached the history, and the epoch's figure is their average
    train = [b for b in history[-1]["batches"] if "train_loss" in b]
    for key in ("train_loss", "train_rating_loss", "train_like_loss", "train_interacted_loss"):
        assert all(isinstance(batch[key], float) for batch in train)
    sizes = [b["train_batch_size"] for b in train]
    mean = sum(b["train_loss"] * n for b, n in zip(train, sizes, strict=True)) / sum(sizes)
    assert history[-1, "train_loss"] == pytest.approx(mean)
    assert all(
        isinstance(b["valid_interacted_loss"], float) for b in history[-1]["batches"][len(train) :]
    )


def test_a_callback_on_each_batch_sees_each_batchs_loss(interactions):
    """A callback that acts as each batch ends (a progress bar) reads that batch's loss, as in
    skorch; the epoch's figures are the same either way."""
    from skorch.callbacks import Callback

    class Losses(Callback):
        def __init__(self):
            self.seen = []

        def on_batch_end(self, net, training=False, **kwargs):
            if training:
                self.seen.append(net.history[-1, "batches", -1, "train_rating_loss"])

    X, y = interactions
    params = dict(user_history=False, item_history=False, max_epochs=2, random_state=0)
    watcher = Losses()
    watched = MultiTaskRecommender({"rating": "regression"}, callbacks=[watcher], **params)
    watched.fit(X, y[["rating"]])
    plain = MultiTaskRecommender({"rating": "regression"}, **params).fit(X, y[["rating"]])
    batches = [b for row in plain.net_.history for b in row["batches"] if "train_loss" in b]
    assert watcher.seen == [b["train_rating_loss"] for b in batches]
    assert watched.net_.history[:, "train_loss"] == plain.net_.history[:, "train_loss"]


@pytest.mark.parametrize("path", ["all", "gathered", "sampled"])
def test_pooling_histories_reads_nothing(reads, interactions, monkeypatch, path):
    """With both histories, on each of the pooling's paths (one product over every owner, each
    owner's entries gathered, entries drawn at random), an epoch still reads once per pass: the
    batches' distinct owners, their entries and the entries drawn are planned on the host."""
    mode, lists = reads
    monkeypatch.setattr(_history, "_FULL_PRODUCT_SHARE", 10**9 if path == "all" else 0)
    made = []
    plan = _history.History.plan

    def watched(self, owners):
        made.append(found := plan(self, owners))
        return found

    monkeypatch.setattr(_history.History, "plan", watched)
    X, y = interactions
    model = MultiTaskRecommender(
        {"rating": "regression"},
        user_history=True,
        item_history=True,
        history_sample=2 if path == "sampled" else None,
        max_epochs=1,
        random_state=0,
    ).fit(X, y[["rating"]])
    assert mode.reads == {}, mode.reads
    assert len(lists) == 2
    # a plan per history per batch, training and validation, each on the path asked for
    assert len(made) == 2 * len(model.net_.history[-1]["batches"])
    assert made[0].how == path


def test_sparse_tables_read_nothing_either(reads, interactions):
    """With more users and items than a batch reads, the id and history tables give sparse
    gradients; RowwiseAdamW sums a row's entries without coalescing them (the number of
    distinct rows is what a device would have to report): still one read per pass."""
    from skmtrec.nn import RowwiseAdamW

    mode, lists = reads
    X, y = interactions
    model = MultiTaskRecommender(
        {"rating": "regression"},
        user_history=True,
        item_history=True,
        history_sample=2,
        batch_size=32,
        max_epochs=1,
        random_state=0,
    ).fit(X, y[["rating"]])
    tables = model.net_.module_.inputs.growing_tables()
    assert len(tables) == 4 and all(table.sparse for table, _ in tables)
    assert isinstance(model.net_.optimizer_, RowwiseAdamW)
    assert mode.reads == {}, mode.reads
    assert len(lists) == 2


@pytest.mark.parametrize("task_balancing", ["gradnorm", "uncertainty", "dwa"])
def test_adaptive_task_balancing_reads_nothing(reads, interactions, task_balancing):
    """The adaptive balancings, GradNorm's per-task gradient norms included, branch on which
    tasks a batch labels from the host's flags, not the device's: still one read per pass,
    with a binary task missing half its labels."""
    mode, lists = reads
    X, y = interactions
    y = y[["rating", "like"]].copy()
    y.loc[y.index[: len(y) // 2], "like"] = float("nan")
    model = MultiTaskRecommender(
        {"rating": "regression", "like": "binary"},
        task_balancing=task_balancing,
        user_history=False,
        item_history=False,
        batch_size=256,
        max_epochs=1,
        random_state=0,
    ).fit(X, y)
    assert mode.reads == {}, mode.reads
    assert len(lists) == 2
    weights = model.net_.module_.balancing.weights()
    if task_balancing == "gradnorm":  # it learned: the weights moved from 1
        assert not torch.allclose(weights, torch.ones(2))


@pytest.mark.parametrize("softmax_items", [10_000, 50])
def test_a_softmax_over_the_catalog_reads_nothing(reads, interactions, softmax_items):
    """A softmax-ranked implicit task pools the items' histories of its catalog on every
    batch: all 150 items, or 50 drawn by popularity, drawn on the host with their plan."""
    mode, lists = reads
    X, y = interactions
    model = MultiTaskRecommender(
        {"rating": "regression", "interacted": "implicit"},
        ranking_loss="softmax",
        softmax_items=softmax_items,
        item_history=True,
        max_epochs=1,
        random_state=0,
    ).fit(X, y[["rating"]])
    assert "item" in model.net_.module_.inputs.histories
    assert mode.reads == {}, mode.reads
    assert len(lists) == 2


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("ranking_loss", ["bce", "softmax"])
def test_a_training_step_never_waits_for_the_gpu(interactions, monkeypatch, ranking_loss):
    """On a GPU, CUDA's sync debug mode raises on every operation that waits for the device,
    reads inside kernels and copies to the host included, which the counts on the CPU above
    cannot see. Every training step runs under it: both histories, sampled pooling, sparse
    tables, and sampled negatives or a softmax over a drawn catalog."""
    step = _net.MultiTaskNet.train_step_single

    def strict(self, *args, **kwargs):
        torch.cuda.set_sync_debug_mode("error")
        try:
            return step(self, *args, **kwargs)
        finally:
            torch.cuda.set_sync_debug_mode("default")

    monkeypatch.setattr(_net.MultiTaskNet, "train_step_single", strict)
    X, y = interactions
    model = MultiTaskRecommender(
        {"rating": "regression", "interacted": "implicit"},
        ranking_loss=ranking_loss,
        softmax_items=50,
        history_sample=2,
        batch_size=32,
        max_epochs=1,
        device="cuda",
        random_state=0,
    ).fit(X, y[["rating"]])
    assert any(table.sparse for table, _ in model.net_.module_.inputs.growing_tables())


def test_a_data_parallel_batch_reads_its_task_counts_with_its_losses(
    reads, interactions, monkeypatch
):
    """In a data-parallel fit, a task's recorded loss is its mean over the labelled rows of
    every process, and whether there were any is a sum only the device holds: it is kept with
    the losses and read with them at the end of the pass, and a task with none is left out of
    the batch's history. One process stands for them all here (the sum over processes is the
    identity), on a real batch of a fit whose binary task lost its labels."""
    mode, lists = reads
    X, y = interactions
    batches = []
    get_loss = _net.MultiTaskNet.get_loss

    def kept(self, y_pred, y_true, *args, **kwargs):
        batches.append((tuple(out.detach() for out in y_pred), y_true.clone()))
        return get_loss(self, y_pred, y_true, *args, **kwargs)

    monkeypatch.setattr(_net.MultiTaskNet, "get_loss", kept)
    tasks = {"rating": "regression", "like": "binary"}
    net = (
        MultiTaskRecommender(
            tasks, user_history=False, item_history=False, max_epochs=1, random_state=0
        )
        .fit(X, y[["rating", "like"]])
        .net_
    )
    y_pred, y_true = batches[0]
    y_true[:, 1] = float("nan")  # no label of the binary task in this batch
    recorded, n_lists = {}, len(lists)
    for world in (1, 2):
        monkeypatch.setattr(_net.MultiTaskNet, "world_size", property(lambda self, n=world: n))
        monkeypatch.setattr(_net.MultiTaskNet, "_sum_over_processes", lambda self, t: t)
        net.history.new_batch()
        with net.deferred_records():
            mode.counting = True
            with mode:
                get_loss(net, y_pred, y_true, training=True)
            mode.counting = False
            assert mode.reads == {} and len(lists) == n_lists, (world, mode.reads)
        recorded[world] = net.history[-1, "batches", -1]
    assert set(recorded[1]) == set(recorded[2]) == {"train_rating_loss"}
    assert recorded[2]["train_rating_loss"] == pytest.approx(recorded[1]["train_rating_loss"])
