"""Histories: the items a user interacted with pooled into the user's vector, and an item's
users into the item's."""

import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import root_mean_squared_error

from skmtrec import MultiTaskRecommender
from skmtrec.datasets import make_interactions
from skmtrec.nn import _history
from skmtrec.nn._history import History, HistoryArrays

from .conftest import movielens_xy


@pytest.fixture(params=["gathered", "one product"])
def history(request, monkeypatch):
    """A batch pools its owners' entries gathered, or through one sparse product over every
    owner once it holds enough of them: the two paths must agree."""
    share = 0 if request.param == "gathered" else 10**9
    monkeypatch.setattr(_history, "_FULL_PRODUCT_SHARE", share)
    # user 1 rated items 2 and 3 (item 2 twice: the first row's label is kept), user 2 item 1
    rows = HistoryArrays(
        owners=np.array([1, 1, 2, 1]),
        members=np.array([2, 3, 1, 2]),
        values=np.array([[1.0], [-1.0], [0.5], [2.0]]),
        n_owners=3,
        n_members=4,
    )
    torch.manual_seed(0)
    module = History(n_members=4, n_values=1, embedding_dim=8, arrays=rows.arrays())
    module.reset_parameters()
    rows_of = module.table.weight.detach().view(5, 2, 8)
    return module, lambda item, value: rows_of[item, 0] + value * rows_of[item, 1]


def test_arrays_keep_one_entry_per_distinct_interaction(history):
    module, _ = history
    arrays = module.arrays()
    np.testing.assert_array_equal(arrays["indptr"], [0, 0, 2, 3, 3])
    np.testing.assert_array_equal(arrays["members"], [2, 3, 1])
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


def test_both_pooling_paths_give_the_same_gradients(monkeypatch):
    rng = np.random.default_rng(0)
    rows = HistoryArrays(
        rng.integers(1, 30, 400), rng.integers(1, 50, 400), rng.normal(size=(400, 2)), 30, 50
    )
    owners, leave_out = (
        torch.as_tensor(rng.integers(0, 31, 64)),
        torch.as_tensor(rng.integers(0, 51, 64)),
    )
    gradients = []
    for share in (0, 10**9):
        monkeypatch.setattr(_history, "_FULL_PRODUCT_SHARE", share)
        torch.manual_seed(0)
        module = History(n_members=50, n_values=2, embedding_dim=8, arrays=rows.arrays())
        module.reset_parameters()
        module(owners, leave_out).pow(2).sum().backward()
        gradients.append(module.table.weight.grad)
    torch.testing.assert_close(gradients[0], gradients[1])


def long_histories(sample):
    """Owners 1-3 with 300, 40 and 2 entries, in a module that samples ``sample`` of them."""
    rng = np.random.default_rng(0)
    lengths = {1: 300, 2: 40, 3: 2}
    owners = np.repeat(list(lengths), list(lengths.values()))
    members = np.concatenate(
        [rng.choice(np.arange(1, 401), n, replace=False) for n in lengths.values()]
    )
    rows = HistoryArrays(owners, members, rng.normal(size=(len(owners), 1)), 3, 400)
    torch.manual_seed(0)
    module = History(
        n_members=400, n_values=1, embedding_dim=4, arrays=rows.arrays(), sample=sample
    )
    module.reset_parameters()
    return module


def test_a_sampled_history_is_an_unbiased_estimate_of_the_full_one(monkeypatch):
    # sample whenever it reads fewer entries than the full product
    monkeypatch.setattr(_history, "_FULL_PRODUCT_SHARE", 1)
    module = long_histories(sample=8)
    owners, leave_out = torch.tensor([1, 2, 3, 1]), torch.tensor([0, 0, 0, 0])
    leave_out[3] = int(module.members[0])  # a row whose own item is in the history
    module.eval()
    exact = module(owners, leave_out).detach()
    module.table.weight.grad = None
    module(owners, leave_out).sum().backward()
    exact_grad = module.table.weight.grad.clone()

    module.train()
    module.table.weight.grad = None
    draws = torch.stack([module(owners, leave_out) for _ in range(3000)])
    draws.sum().backward()
    one = draws[0].detach()
    mean, spread = draws.mean(0).detach(), draws.std(0).detach()
    # an owner with no more entries than the sample is pooled exactly, every draw
    torch.testing.assert_close(one[2], exact[2])
    assert torch.all(draws[:, 2] == draws[0, 2])
    # longer ones vary from draw to draw, around the exact vector (5 standard errors)
    assert torch.all(spread[[0, 1, 3]] > 0)
    assert torch.all((mean - exact).abs() <= 5 * spread / np.sqrt(3000) + 1e-6)
    # and so do the gradients of the table's rows
    grad = module.table.weight.grad / 3000
    assert (grad - exact_grad).abs().max() < 0.1 * exact_grad.abs().max()


def test_predict_pools_every_entry_however_long(monkeypatch):
    monkeypatch.setattr(_history, "_FULL_PRODUCT_SHARE", 1)
    sampled, exact = long_histories(sample=8), long_histories(sample=None)
    sampled.eval()
    owners = torch.tensor([1, 2, 3])
    torch.testing.assert_close(sampled(owners), exact(owners))
    exact.train()
    torch.testing.assert_close(sampled(owners), exact(owners))


def test_pooling_once_is_exact_in_either_mode(monkeypatch):
    monkeypatch.setattr(_history, "_FULL_PRODUCT_SHARE", 1)
    sampled, exact = long_histories(sample=8), long_histories(sample=None)
    exact.eval()
    owners = torch.tensor([0, 1, 2, 3])
    sampled.train()  # as a network just built, before it is set to eval
    with sampled.pooled_once():
        sampled.eval()
        torch.testing.assert_close(sampled(owners), exact(owners))


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
    # the rows skorch trains on (the estimator's split), which the history for training matches
    train, _ = net.train_split(np.arange(len(X)))
    X_train = X.iloc[train.indices]
    trained_on = per_user_counts(net.module__history["user"])
    assert trained_on == sorted(
        distinct_per_user(X_train) + [0] * (X["user_id"].nunique() - X_train["user_id"].nunique())
    )
    kept = net.module_.history_arrays()["user"]
    assert per_user_counts(kept) == distinct_per_user(X)
    # one entry per distinct interaction: memory grows with them, not with users x items
    assert len(kept["members"]) == len(X.drop_duplicates(["user_id", "item_id"]))


def test_history_keeps_the_labels_of_the_scalar_tasks(interactions):
    X, y = interactions
    model = fit(X, y)
    assert model.network_spec_["inputs"]["history_values"] == 2  # rating and like
    kept = model.net_.module_.history_arrays()["user"]
    # each distinct pair keeps its first row's labels, standardized over the rows (0: missing)
    labels = y.to_numpy(dtype=float)
    expected = np.nan_to_num((labels - np.nanmean(labels, 0)) / np.nanstd(labels, 0))
    first = X.reset_index(drop=True).drop_duplicates(["user_id", "item_id"])
    assert len(first) == len(kept["members"])
    np.testing.assert_allclose(
        np.sort(kept["values"], axis=0),
        np.sort(expected[first.index], axis=0),
        rtol=1e-5,
        atol=1e-6,
    )
    off = fit(X, y, user_history=False, item_history=False)
    assert off.network_spec_["inputs"]["history_values"] is None
    assert "user" not in off.net_.module_.history_arrays()


def test_items_keep_the_histories_of_their_users(interactions):
    X, y = interactions
    model = fit(X, y, user_history=False, item_history=True)
    inputs = model.network_spec_["inputs"]
    assert inputs["history_sides"] == ["item"] and inputs["history_values"] == 2
    kept = model.net_.module_.history_arrays()["item"]
    per_item = X.drop_duplicates(["user_id", "item_id"]).groupby("item_id").size().tolist()
    assert per_user_counts(kept) == sorted(per_item)
    both = fit(X, y, item_history=True)
    assert both.network_spec_["inputs"]["history_sides"] == ["user", "item"]
    restored = pickle.loads(pickle.dumps(both))
    pd.testing.assert_frame_equal(
        restored.predict_tasks(X.head(50)), both.predict_tasks(X.head(50))
    )


def test_a_user_unseen_in_fit_is_served_from_the_population(interactions):
    X, y = interactions
    model = fit(X, y)
    new = X.head(3).assign(user_id=-1)
    pooled = model.net_.module_.inputs.histories["user"](torch.zeros(3, dtype=torch.long))
    assert torch.equal(pooled, torch.zeros_like(pooled))
    assert np.isfinite(model.predict_tasks(new)["rating"]).all()
    pd.testing.assert_frame_equal(model.predict_tasks(new), fit(X, y).predict_tasks(new))


def test_a_history_given_at_predict_time_is_pooled_like_a_kept_one(interactions):
    X, _ = interactions
    # implicit only: no labels beside the items, so a given history pools exactly as a kept one
    model = MultiTaskRecommender(
        tasks={"interacted": "implicit"}, user_history=True, max_epochs=2, random_state=0
    ).fit(X)
    history = model.net_.module_.inputs.histories["user"]
    user = X["user_id"].iloc[0]
    code = int(model.model_.encoder.user_codes.transform(pd.Series([user]))[0])
    items = X.loc[X["user_id"] == user, "item_id"]
    codes = model.model_.encoder.item_codes.transform(items)
    kept = history(torch.tensor([code]))
    with model.net_.module_.extended_history([codes[::-1]]) as first:
        torch.testing.assert_close(history(torch.tensor([first])), kept)
    # the kept histories are back, untouched
    assert per_user_counts(history.arrays()) == distinct_per_user(X)


def test_a_given_history_moves_an_unseen_users_predictions(interactions):
    X, y = interactions
    model = fit(X, y, max_epochs=10)
    before = model.predict_tasks(X)
    user = X["user_id"].iloc[0]
    items = X.loc[X["user_id"] == user, "item_id"].tolist()
    rows = X.head(5).assign(user_id=-1)
    plain = model.predict_tasks(rows)
    given = model.predict_tasks(rows.assign(history=[items] * 5))
    assert not np.allclose(given["rating"], plain["rating"])
    # order, repeats and items unseen in fit do not matter; None falls back to the kept history
    shuffled = [list(reversed(items)) + items[:3] + ["no such item"]] * 5
    pd.testing.assert_frame_equal(model.predict_tasks(rows.assign(history=shuffled)), given)
    pd.testing.assert_frame_equal(model.predict_tasks(rows.assign(history=None)), plain)
    pd.testing.assert_frame_equal(model.predict_tasks(X), before)


def test_recommend_serves_a_given_history_and_never_returns_its_items(interactions):
    X, y = interactions
    model = fit(X, y, max_epochs=10)
    items = X.loc[X["user_id"] == X["user_id"].iloc[0], "item_id"].unique()
    users = pd.DataFrame({"user_id": [-1, -2], "history": [list(items), None]})
    recs = model.recommend(users, k=40)  # 60 items, 16 of them in the history
    mine = recs.loc[recs["user_id"] == -1, "item_id"]
    assert len(mine) == 40 and not set(mine) & set(items)
    population = model.recommend(np.array([-2]), k=10)
    np.testing.assert_array_equal(
        recs.loc[recs["user_id"] == -2, "item_id"].head(10), population["item_id"]
    )


def test_a_history_cell_that_is_not_a_list_is_refused(interactions):
    X, y = interactions
    model = fit(X, y)
    with pytest.raises(ValueError, match=r"'history'.*row 1 holds 'abc'"):
        model.predict(X.head(3).assign(history=[[1], "abc", None]))


def test_a_history_cell_of_lists_is_refused_naming_the_column_and_row(interactions):
    """Non-regression test for T11: a history cell holding lists gave pandas' bare
    "TypeError: unhashable type: 'list'"."""
    X, y = interactions
    model = fit(X.head(300), y.head(300), max_epochs=1, history_col="basket")
    before = model.predict_tasks(X.head(3))
    with pytest.raises(ValueError, match=r"Column 'basket' .* row 0 holds \[\[1, 2\]\]"):
        model.predict(X.head(1).assign(basket=[[[1, 2]]]))
    with pytest.raises(ValueError, match=r"Column 'basket' .* row 2 holds \(3, \{4\}\)"):
        model.predict(X.head(3).assign(basket=[[1], None, (3, {4})]))
    pd.testing.assert_frame_equal(model.predict_tasks(X.head(3)), before)


@pytest.mark.slow
def test_a_new_users_history_improves_their_ratings_on_movielens(movielens):
    # u1.base: a tenth of the users are new; half of each new user's items are their history
    ratings = movielens.train
    rng = np.random.default_rng(0)
    users = ratings["user_id"].unique()
    new = rng.choice(users, size=len(users) // 10, replace=False)
    known = ratings[~ratings["user_id"].isin(new)]
    fresh = ratings[ratings["user_id"].isin(new)].sample(frac=1.0, random_state=0)
    shown = fresh.groupby("user_id").cumcount() % 2 == 0
    histories = fresh[shown].groupby("user_id")["item_id"].apply(list)
    asked = fresh[~shown]
    X, y = movielens_xy(known)
    model = MultiTaskRecommender(
        tasks={"rating": "regression"}, user_history=True, random_state=0
    ).fit(X, y[["rating"]])
    X_new, y_new = movielens_xy(asked)
    plain = model.predict(X_new)
    given = model.predict(X_new.assign(history=histories.loc[asked["user_id"]].to_numpy()))
    rmse_plain = root_mean_squared_error(y_new["rating"], np.clip(plain, 1, 5))
    rmse_given = root_mean_squared_error(y_new["rating"], np.clip(given, 1, 5))
    # seen: 1.0416 without, 1.0334 with. Training drops a history with its id (a new item
    # has none), so an id-less user with a history is not a training case; before that the
    # gain was larger and cold items were rated far worse (README, R3)
    assert rmse_given < rmse_plain - 0.005, (rmse_given, rmse_plain)


@pytest.mark.parametrize("sparse", [False, True])
def test_a_sampled_products_gradient_is_torchs_through_its_transpose(monkeypatch, sparse):
    """The sampled path's backward multiplies by the transpose made on the host: the same
    gradient as torch's own backward of the product, for a table with dense or sparse
    gradients, with a row's own item left out."""
    monkeypatch.setattr(_history, "_FULL_PRODUCT_SHARE", 1)
    owners, leave_out = torch.tensor([1, 2, 3, 1, 2]), torch.tensor([0, 5, 0, 7, 0])
    gradients = []
    for product in (_history._SparseProduct.apply, lambda dense, matrix, _: matrix @ dense):
        monkeypatch.setattr(_history._SparseProduct, "apply", product)
        module = long_histories(sample=8)
        if sparse:
            module.table.sparse = True
        module.train()
        torch.manual_seed(1)
        (module(owners, leave_out) * torch.arange(4.0)).sum().backward()
        grad = module.table.weight.grad
        assert grad.is_sparse == sparse
        gradients.append(grad.to_dense())
    assert gradients[0].abs().sum() > 0
    torch.testing.assert_close(gradients[0], gradients[1])
