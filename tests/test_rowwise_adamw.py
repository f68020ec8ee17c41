"""RowwiseAdamW: AdamW's update on dense gradients, and on the rows of a sparse one only; the
network's growing tables give sparse gradients, and ids no training batch read are served as
unseen."""

import pytest
import torch

from skmtrec import MultiTaskRecommender
from skmtrec.datasets import make_interactions
from skmtrec.nn import RowwiseAdamW

from .conftest import dataset


def _adamw_pair(n_rows, groups):
    """The same starting weights under torch's AdamW and RowwiseAdamW, per parameter group."""
    torch.manual_seed(0)
    starts = [torch.randn(n_rows, 4) for _ in groups]
    ours = [torch.nn.Parameter(w.clone()) for w in starts]
    theirs = [torch.nn.Parameter(w.clone()) for w in starts]
    make = lambda params: [dict(g, params=[p]) for g, p in zip(groups, params, strict=True)]  # noqa: E731
    return ours, RowwiseAdamW(make(ours)), theirs, torch.optim.AdamW(make(theirs))


@pytest.mark.parametrize("sparse", [False, True])
def test_gradients_of_every_row_give_adamw(sparse):
    groups = [{"lr": 0.01, "weight_decay": 2.0}, {"lr": 0.05, "weight_decay": 0.0}]
    ours, optimizer, theirs, reference = _adamw_pair(30, groups)
    for _ in range(15):
        for a, b in zip(ours, theirs, strict=True):
            grad = torch.randn(30, 4)
            a.grad = grad.to_sparse(1) if sparse else grad.clone()
            b.grad = grad.clone()
        optimizer.step()
        reference.step()
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("ordered_index_add", [("cpu",), ()])
def test_a_sparse_gradient_updates_its_rows_only(monkeypatch, ordered_index_add):
    """A row's entries summed by index_add_ (the CPU's path) or by index_put_'s accumulation
    (a GPU's, run here on the CPU): AdamW's update of the rows read, either way."""
    from skmtrec._training import optim

    monkeypatch.setattr(optim, "_ORDERED_INDEX_ADD", ordered_index_add)
    table = torch.nn.Embedding(50, 4, sparse=True)
    before = table.weight.detach().clone()
    optimizer = RowwiseAdamW(table.parameters(), lr=0.01, weight_decay=2.0)
    # the rows read every step, under torch's AdamW on their own
    read = torch.nn.Parameter(before[[3, 7, 9]].clone())
    reference = torch.optim.AdamW([read], lr=0.01, weight_decay=2.0)
    for step in range(10):
        torch.manual_seed(step)
        codes = torch.tensor([3, 7, 9, 7])  # 7 twice: its two gradients add up
        scale = torch.randn(4, 4)
        optimizer.zero_grad()
        (table(codes) * scale).sum().backward()
        optimizer.step()
        read.grad = torch.stack([scale[0], scale[1] + scale[3], scale[2]])
        reference.step()
    others = torch.ones(50, dtype=torch.bool)
    others[[3, 7, 9]] = False
    assert torch.equal(table.weight[others], before[others])  # not read: decay waits too
    assert torch.equal(optimizer.state[table.weight]["exp_avg"][others], torch.zeros(47, 4))
    torch.testing.assert_close(table.weight[[3, 7, 9]], read, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("batch_size", [32, 48])
def test_tables_with_more_rows_than_a_batch_give_sparse_gradients(batch_size):
    X, y = dataset("small")
    model = MultiTaskRecommender(
        tasks={"rating": "regression", "like": "binary"},
        batch_size=batch_size,
        history_sample=1,
        max_epochs=2,
        random_state=0,
    ).fit(X, y[["rating", "like"]])
    inputs = model.net_.module_.inputs
    rows = {
        "user ids": inputs.sides["user"]["embedding"],  # 61 rows: 60 users and the unseen
        "item ids": inputs.sides["item"]["embedding"],  # 41
        "user histories": inputs.histories["user"].table,  # a row per item: 41
        "item histories": inputs.histories["item"].table,  # a row per user: 61
    }
    sparse = {name for name, table in rows.items() if table.sparse}
    assert sparse == (set(rows) if batch_size == 32 else {"user ids", "item histories"})
    assert not any(table.sparse for table in inputs.categorical_embeddings)
    assert isinstance(model.net_.optimizer_, RowwiseAdamW)


def test_gradient_norm_clipping_gets_dense_tables():
    """torch's clip_grad_norm_ cannot read sparse gradients: a clipping callback keeps every
    table dense, and the fit runs."""
    from skorch.callbacks import GradientNormClipping

    X, y = dataset("small")
    model = MultiTaskRecommender(
        tasks={"rating": "regression"},
        batch_size=32,
        max_epochs=2,
        callbacks=[GradientNormClipping(1.0)],
        random_state=0,
    ).fit(X, y[["rating"]])
    tables = model.net_.module_.inputs.growing_tables()
    assert not any(table.sparse for table, _ in tables)
    assert model.net_.history[-1, "train_loss"] < model.net_.history[0, "train_loss"]


def test_rows_left_out_take_the_decay_they_missed():
    """Rows read at some steps only end, after catch_up, where AdamW leaves them: with no
    memory in the moments (betas 0), AdamW moves a row only at the steps that read it, and
    decays every row at every step."""
    torch.manual_seed(0)
    table = torch.nn.Embedding(20, 3, sparse=True)
    dense = torch.nn.Parameter(table.weight.detach().clone())
    hyper = {"lr": 0.02, "weight_decay": 3.0, "betas": (0.0, 0.0)}
    optimizer = RowwiseAdamW(table.parameters(), **hyper)
    reference = torch.optim.AdamW([dense], **hyper)
    for step in range(12):
        codes = torch.tensor([1, 2] if step % 3 else [1, 5, 6])
        optimizer.zero_grad()
        table(codes).sum().backward()
        if step == 7:  # a whole-table gradient between sparse ones (a history's full product)
            table.weight.grad = table.weight.grad.to_dense()
        dense.grad = table.weight.grad.to_dense()
        optimizer.step()
        reference.step()
    optimizer.catch_up()
    # 1 and 2 (read at most steps), 5 and 6 (every third) and 0 and 3 (never)
    torch.testing.assert_close(table.weight, dense.detach())


@pytest.mark.slow
def test_sparse_tables_learn_as_well_as_dense_ones():
    """Where the id tables are sparse (more users and items than a batch holds), the model
    scores as the same model with every table dense (GradientNormClipping with no bound)."""
    from skorch.callbacks import GradientNormClipping

    X, y = make_interactions(n_users=3000, n_items=800, n_interactions=30_000, random_state=0)
    X, y = X.drop(columns="item_text"), y[["rating", "like"]]
    train, test = slice(0, 24_000), slice(24_000, None)
    scores = {}
    for name, callbacks in (("sparse", None), ("dense", [GradientNormClipping(1e12)])):
        model = MultiTaskRecommender(
            tasks={"rating": "regression", "like": "binary"},
            batch_size=256,
            callbacks=callbacks,
            random_state=0,
        ).fit(X[train], y[train])
        sparse = [table.sparse for table, _ in model.net_.module_.inputs.growing_tables()]
        assert sparse[:2] == ([True, True] if name == "sparse" else [False, False])
        scores[name] = model.score(X[test], y[test])
    assert scores["sparse"] > 0.5  # R^2 and accuracy, averaged: the model learned
    assert abs(scores["sparse"] - scores["dense"]) < 0.01


def test_a_coalesced_gradient_updates_as_its_entries_would():
    """A gradient marked coalesced (each row once) is used as it is; the same gradient split
    into several entries per row, in any order, is summed first: the same update."""
    torch.manual_seed(0)
    start = torch.randn(40, 6)
    rows, values = torch.tensor([2, 5, 11, 30]), torch.randn(4, 6)
    split_rows = torch.tensor([30, 5, 2, 11, 5, 2])
    parts = torch.randn(2, 6)
    split_values = torch.cat([values[[3, 1, 0, 2]], parts])
    split_values[1] -= parts[0]  # row 5's entries add up to its value
    split_values[2] -= parts[1]  # and row 2's
    tables = [torch.nn.Parameter(start.clone()) for _ in range(2)]
    optimizers = [RowwiseAdamW([t], lr=0.01, weight_decay=2.0) for t in tables]
    for _ in range(3):
        tables[0].grad = torch.sparse_coo_tensor(
            rows.unsqueeze(0), values, (40, 6), is_coalesced=True
        )
        tables[1].grad = torch.sparse_coo_tensor(split_rows.unsqueeze(0), split_values, (40, 6))
        assert tables[0].grad.is_coalesced() and not tables[1].grad.is_coalesced()
        for optimizer in optimizers:
            optimizer.step()
    torch.testing.assert_close(tables[0], tables[1])
    assert not torch.equal(tables[0][rows], start[rows])
