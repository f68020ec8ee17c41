"""User history: the items a user interacted with, pooled into the user's vector."""

import numpy as np
import pandas as pd
import pytest
import torch
from skorch.dataset import ValidSplit

from skmtrec import MultiTaskRecommender
from skmtrec.datasets import make_interactions
from skmtrec.nn._history import Histories, UserHistory


@pytest.fixture
def history():
    # user 1 rated items 2 and 3 (item 2 twice: the first row's label is kept), user 2 item 1
    rows = Histories(
        users=np.array([1, 1, 2, 1]),
        items=np.array([2, 3, 1, 2]),
        values=np.array([[1.0], [-1.0], [0.5], [2.0]]),
        n_users=3,
        n_items=4,
    )
    torch.manual_seed(0)
    module = UserHistory(n_items=4, n_values=1, embedding_dim=8, arrays=rows.arrays())
    module.reset_parameters()
    rows_of = module.table.weight.detach().view(5, 2, 8)
    return module, lambda item, value: rows_of[item, 0] + value * rows_of[item, 1]


def test_arrays_keep_one_entry_per_distinct_interaction(history):
    module, _ = history
    arrays = module.arrays()
    np.testing.assert_array_equal(arrays["indptr"], [0, 0, 2, 3, 3])
    np.testing.assert_array_equal(arrays["items"], [2, 3, 1])
    np.testing.assert_array_equal(arrays["values"][:, 0], [1.0, -1.0, 0.5])


def test_pooling_is_the_scaled_sum_of_the_entries(history):
    module, entry = history
    pooled = module(torch.tensor([1, 2, 0, 3, 1])).detach()
    expected = torch.stack(
        [
            (entry(2, 1.0) + entry(3, -1.0)) / np.sqrt(2),
            entry(1, 0.5),
            torch.zeros(8),  # the unseen user: no history, the population
            torch.zeros(8),  # a user with no rows
            (entry(2, 1.0) + entry(3, -1.0)) / np.sqrt(2),
        ]
    )
    torch.testing.assert_close(pooled, expected)


def test_a_rows_own_item_is_left_out_of_its_users_history(history):
    module, entry = history
    pooled = module(torch.tensor([1, 1, 2, 2]), leave_out=torch.tensor([2, 4, 1, 3])).detach()
    expected = torch.stack(
        [
            entry(3, -1.0),  # item 2 left out: one entry remains, scaled by 1/sqrt(1)
            (entry(2, 1.0) + entry(3, -1.0)) / np.sqrt(2),  # item 4 is not in the history
            torch.zeros(8),  # the only item left out: nothing remains
            entry(1, 0.5),
        ]
    )
    torch.testing.assert_close(pooled, expected)


@pytest.fixture(scope="module")
def interactions():
    X, y = make_interactions(n_users=120, n_items=60, n_interactions=3000, random_state=0)
    return X.drop(columns="item_text"), y[["rating", "like"]]


def fit(X, y, **params):
    tasks = {"rating": "regression", "like": "binary", "interacted": "implicit"}
    defaults = dict(tasks=tasks, user_history=True, max_epochs=3, random_state=0)
    return MultiTaskRecommender(**{**defaults, **params}).fit(X, y)


def per_user_counts(arrays) -> list[int]:
    return sorted(np.diff(arrays["indptr"])[1:].tolist())


def distinct_per_user(X) -> list[int]:
    return sorted(X.drop_duplicates(["user_id", "item_id"]).groupby("user_id").size().tolist())


def test_training_sees_the_training_rows_and_the_fitted_model_every_row(interactions):
    X, y = interactions
    net = fit(X, y).net_
    # skorch's own split of the rows, which the history built for training must match
    train, _ = ValidSplit(0.1, random_state=net.train_split.random_state)(np.arange(len(X)))
    X_train = X.iloc[train.indices]
    trained_on = per_user_counts(net.module__history)
    assert trained_on == sorted(
        distinct_per_user(X_train) + [0] * (X["user_id"].nunique() - X_train["user_id"].nunique())
    )
    kept = net.module_.inputs.history.arrays()
    assert per_user_counts(kept) == distinct_per_user(X)
    # one entry per distinct interaction: memory grows with them, not with users x items
    assert len(kept["items"]) == len(X.drop_duplicates(["user_id", "item_id"]))


def test_history_keeps_the_labels_of_the_scalar_tasks(interactions):
    X, y = interactions
    model = fit(X, y)
    assert model.network_spec_["inputs"]["history_values"] == 2  # rating and like
    kept = model.net_.module_.inputs.history.arrays()
    # each distinct pair keeps its first row's labels, standardized over the rows (0: missing)
    labels = y.to_numpy(dtype=float)
    expected = np.nan_to_num((labels - np.nanmean(labels, 0)) / np.nanstd(labels, 0))
    first = X.reset_index(drop=True).drop_duplicates(["user_id", "item_id"])
    assert len(first) == len(kept["items"])
    np.testing.assert_allclose(
        np.sort(kept["values"], axis=0),
        np.sort(expected[first.index], axis=0),
        rtol=1e-5,
        atol=1e-6,
    )
    off = fit(X, y, user_history=False)
    assert off.network_spec_["inputs"]["history_values"] is None
    assert off.net_.module_.inputs.history is None


def test_a_user_unseen_in_fit_is_served_from_the_population(interactions):
    X, y = interactions
    model = fit(X, y)
    new = X.head(3).assign(user_id=-1)
    pooled = model.net_.module_.inputs.history(torch.zeros(3, dtype=torch.long))
    assert torch.equal(pooled, torch.zeros_like(pooled))
    assert np.isfinite(model.predict_tasks(new)["rating"]).all()
    pd.testing.assert_frame_equal(model.predict_tasks(new), fit(X, y).predict_tasks(new))
