"""Embedding lookups: faster gradients on the CPU, to the bit the embedding's."""

import pytest
import torch
import torch.nn.functional as F

from skmtrec.nn import InputLayer
from skmtrec.nn._lookup import gather_rows


@pytest.mark.parametrize("shape", [(500,), (100, 7)])
@pytest.mark.parametrize("rows", [3, 900])
@pytest.mark.parametrize("width", [5, 16, 64])  # index_add_ sorts its indices from width 16
def test_rows_and_their_gradient_are_the_embeddings(shape, rows, width):
    torch.manual_seed(0)
    weight = torch.randn(rows, width, requires_grad=True)
    codes = torch.randint(0, rows, shape)  # repeated codes: their gradients add up
    upstream = torch.randn(*shape, width)
    expected = F.embedding(codes, weight)
    (expected_grad,) = torch.autograd.grad(expected, weight, upstream)
    got = gather_rows(weight, codes)
    (grad,) = torch.autograd.grad(got, weight, upstream)
    assert torch.equal(got, expected)
    assert torch.equal(grad, expected_grad)


def test_categorical_columns_read_together_are_read_as_one_by_one():
    """In training, adjacent columns of one width share one lookup; the vector and every
    table's gradient are the per-column lookups'."""
    torch.manual_seed(0)
    # widths 3, 3, 3, 2, 9, 3, 3: runs of three, one, one and two columns; the first run's
    # tables have 3, 4 and 3 rows, so each offset must add up the tables before it
    cardinalities = [2, 3, 2, 1, 21, 2, 2]
    layer = InputLayer(
        n_users=0,
        n_items=0,
        cardinalities=cardinalities,
        n_numeric=1,
        sides={},
        embedding_dim=16,
    )
    widths = [table.embedding_dim for table in layer.categorical_embeddings]
    assert widths == [3, 3, 3, 2, 9, 3, 3]
    n = 400
    categorical = torch.stack([torch.randint(0, c + 1, (n,)) for c in cardinalities], dim=1)
    numeric = torch.randn(n, 1)
    upstream = torch.randn(n, sum(widths) + 1)
    tables = [table.weight for table in layer.categorical_embeddings]

    got = layer.shared_input(numeric, categorical)
    grads = torch.autograd.grad(got, tables, upstream)
    one_by_one = [F.embedding(categorical[:, j], w) for j, w in enumerate(tables)]
    expected = torch.cat([*one_by_one, numeric], dim=1)
    expected_grads = torch.autograd.grad(expected, tables, upstream)
    assert torch.equal(got, expected)
    for grad, expected_grad in zip(grads, expected_grads, strict=True):
        assert torch.equal(grad, expected_grad)
    with torch.no_grad():  # serving reads them a column at a time, to the same vector
        assert torch.equal(layer.eval().shared_input(numeric, categorical), expected)
