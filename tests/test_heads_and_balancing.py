"""Behaviour every head and task-balancing method must show, tested once for all of them.

Each (architecture, task_balancing) pair is fitted once per session on synthetic interactions
with missing labels; the tests then ask the same questions of each: does it learn, serve unseen
ids, keep its weights per epoch, validate at fixed weights, pickle, clone, reproduce, rank the
checkerboard's withheld item first, and score pairs in recommend as predict does.

By default 6 pairs: each head at fixed weights, and each adaptive balancing on MMoE; the other
6 of the 3 x 4 grid are marked ``slow``.
"""

import itertools
import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.metrics import roc_auc_score, root_mean_squared_error

import skmtrec
from skmtrec import MMoE, MultiTaskRecommender, SharedBottom
from skmtrec.nn._heads import HEADS as HEAD_CLASSES
from skmtrec.nn._heads import PLE
from skmtrec.nn._inputs import PairInput, RowPairs

from .conftest import dataset, fitted_model, network_from_spec

HEADS = ("shared_bottom", "mmoe", "ple")
BALANCING = ("fixed", "uncertainty", "gradnorm", "dwa")
# each head once and each balancing once by default; the rest of the grid is slow
DEFAULT = [(head, "fixed") for head in HEADS] + [("mmoe", b) for b in BALANCING if b != "fixed"]


GRID = tuple(itertools.product(HEADS, BALANCING))


def grid(pairs=GRID):
    """(architecture, task_balancing) pairs as pytest parameters, those not in DEFAULT slow."""
    return [
        pytest.param(pair, id="-".join(pair), marks=() if pair in DEFAULT else pytest.mark.slow)
        for pair in pairs
    ]


TASKS = {
    "rating": "regression",
    "like": "binary",
    "category": "multiclass",
    "interacted": "implicit",
}
WEIGHTS = {"rating": 1.0, "like": 0.5, "category": 1.0, "interacted": 2.0}


def model_params(architecture, balancing, **params):
    defaults = dict(
        tasks=TASKS,
        architecture={
            "shared_bottom": SharedBottom(),
            "mmoe": MMoE(n_experts=3, expert_units=(32,)),
            "ple": skmtrec.PLE(n_experts=3, expert_units=(32,)),
        }[architecture],
        task_balancing=balancing,
        task_weights=WEIGHTS,
        lr=5e-3,  # 12 epochs at the default 2e-3 leave the gated heads short of the bounds
        max_epochs=12,
        # histories are tested in test_user_history.py; without them the category's training
        # loss stays well above zero, which the uncertainty weights' bound needs
        user_history=False,
        item_history=False,
        patience=None,
        random_state=0,
    )
    return {**defaults, **params}


def make_model(architecture, balancing, **params):
    return MultiTaskRecommender(**model_params(architecture, balancing, **params))


TRAIN = 6500  # of the "split" data set's 8000 rows


@pytest.fixture(scope="module")
def data():
    X, y = dataset("split")
    return X.iloc[:TRAIN], y.iloc[:TRAIN], X.iloc[TRAIN:], y.iloc[TRAIN:]


@pytest.fixture(scope="module", params=grid())
def fitted(request):
    architecture, balancing = request.param
    params = model_params(architecture, balancing)
    return architecture, balancing, fitted_model("split", n_rows=TRAIN, **params)


def test_learns_every_task(fitted, data):
    _, _, X_test, y_test = data
    *_, model = fitted
    pred = model.predict_tasks(X_test)
    # the rating's standard deviation is 1.16; the category (a topic drawn from the item's mix)
    # has a majority class of 16% and is right 45% of the time from each item's most frequent
    # topic (seen after 12 epochs: RMSE 0.72-0.83, AUC 0.89-0.92, category accuracy 0.20-0.41,
    # shared bottom with uncertainty weights the lowest: the noisiest task weighs least)
    assert root_mean_squared_error(y_test["rating"], pred["rating"]) < 0.9
    like = y_test["like"].notna().to_numpy()
    auc = roc_auc_score(y_test["like"][like], model.predict_proba(X_test, task="like")[like, 1])
    assert auc > 0.85
    category = y_test["category"].notna().to_numpy()
    assert (pred["category"][category] == y_test["category"][category]).mean() > 0.18


def test_missing_labels_leave_every_loss_finite(fitted):
    """like and category miss 30% and 50% of their labels; no NaN reaches a loss."""
    *_, model = fitted
    history = model.net_.history
    for task in TASKS:
        assert np.isfinite(history[:, f"train_{task}_loss"]).all()
        assert np.isfinite(history[:, f"valid_{task}_loss"]).all()
    assert history[-1, "valid_rating_loss"] < history[0, "valid_rating_loss"]


def test_unseen_ids_are_served_from_features(fitted, data):
    X, *_ = data
    *_, model = fitted
    new = X.head(2).assign(user_id=[-1, -2], item_id=[-1, -2])
    new["user_segment"] = ["student", "retired"]
    pred = model.predict_tasks(new)
    assert np.isfinite(pred["rating"]).all()
    assert pred["rating"].iloc[0] != pytest.approx(pred["rating"].iloc[1], abs=1e-6)


def test_task_weights_of_every_epoch_are_in_the_history(fitted):
    _, balancing, model = fitted
    history = model.net_.history
    weights = np.array([history[:, f"task_weight_{task}"] for task in TASKS]).T
    assert weights.shape == (len(history), len(TASKS))
    assert (weights > 0).all()
    fixed = np.array([WEIGHTS[task] for task in TASKS])
    if balancing == "fixed":
        np.testing.assert_allclose(weights, np.tile(fixed, (len(history), 1)))
    else:  # adaptive weights move away from the fixed ones
        assert not np.allclose(weights[-1], fixed, rtol=1e-3)


@pytest.mark.parametrize("fitted", grid((head, "uncertainty") for head in HEADS), indirect=True)
def test_uncertainty_weights_keep_up_with_the_losses(fitted):
    """Kendall's weight of a task settles at 1 / (its training loss); in a fit the losses keep
    falling, and the log-variances must follow them, not trail by many epochs."""
    *_, model = fitted
    last = model.net_.history[-1]
    for task in TASKS:
        factor = last[f"task_weight_{task}"] / WEIGHTS[task]
        assert 0.5 < factor * last[f"train_{task}_loss"] < 2, task


def test_validation_loss_uses_the_fixed_weights(fitted):
    """One validation batch: valid_loss is exactly the fixed-weight sum of the task losses,
    whatever the training weights are, so early stopping compares like with like."""
    *_, model = fitted
    for row in model.net_.history:
        fixed = sum(WEIGHTS[task] * row[f"valid_{task}_loss"] for task in TASKS)
        assert row["valid_loss"] == pytest.approx(fixed, rel=1e-5)


def test_pickle_round_trip_and_rebuild_from_the_spec(fitted, data):
    _, _, X_test, _ = data
    *_, model = fitted
    restored = pickle.loads(pickle.dumps(model))
    pd.testing.assert_frame_equal(restored.predict_tasks(X_test), model.predict_tasks(X_test))
    # the spec is plain JSON and rebuilds the same network, without pickle
    restored.net_.module_ = network_from_spec(model)
    pd.testing.assert_frame_equal(restored.predict_tasks(X_test), model.predict_tasks(X_test))


def test_clone_refits_to_identical_predictions(fitted, data):
    """Two clones of a fitted model fit alike, to the bit (two epochs each show it)."""
    X, y, X_test, _ = data
    *_, model = fitted
    first, again = (clone(model).set_params(max_epochs=2).fit(X, y) for _ in range(2))
    assert len(first.net_.history) == 2
    pd.testing.assert_frame_equal(again.predict_tasks(X_test), first.predict_tasks(X_test))
    # a clone starts afresh: it carries none of the fitted model's weights
    assert not first.predict_tasks(X_test).equals(model.predict_tasks(X_test))


def test_fast_recommend_path_scores_as_predict(fitted, data):
    """recommend scores pairs through the head's pair path; predict runs the plain forward."""
    X, *_ = data
    *_, model = fitted
    user_row = X.iloc[[0]]
    recs = model.recommend(user_row["user_id"].to_numpy(), k=20, exclude_seen=False)
    pairs = user_row.loc[user_row.index.repeat(20)].assign(item_id=recs["item_id"].to_numpy())
    proba = model.predict_proba(pairs, task="interacted")[:, 1]
    np.testing.assert_allclose(recs["score"].to_numpy(), proba, rtol=1e-4, atol=1e-6)
    blended = model.recommend(user_row["user_id"].to_numpy(), k=20, task={"rating": 1.0})
    pairs = user_row.loc[user_row.index.repeat(20)].assign(item_id=blended["item_id"].to_numpy())
    np.testing.assert_allclose(
        blended["score"].to_numpy(), model.predict_tasks(pairs)["rating"], rtol=1e-4
    )


N = 40


@pytest.mark.parametrize("pair", grid())
def test_checkerboard_withheld_item_ranks_first(pair):
    """Users and items of two parities; each user has every item of its parity but one, its
    own: that item must top its list (implicit's known-answer test)."""
    architecture, balancing = pair
    rows = [(u, i) for u in range(N) for i in range(N) if u % 2 == i % 2 and u != i]
    X = pd.DataFrame(rows, columns=["user_id", "item_id"])
    y = pd.DataFrame({"rating": np.where(X["item_id"] % 2 == 0, 4.0, 2.0)})
    model = make_model(
        architecture,
        balancing,
        tasks={"rating": "regression", "interacted": "implicit"},
        task_weights=None,
        batch_size=256,
        max_epochs=30,
    ).fit(X, y)
    recs = model.recommend(np.arange(N), k=1)
    np.testing.assert_array_equal(recs["item_id"].to_numpy(), np.arange(N))


def _deep_head(head: str):
    """``head`` deeper than the defaults (PLE: three levels, two experts per task, two-layer
    experts), in eval mode, over inputs of 5-wide user and item vectors and 2 shared columns,
    for tasks with 1, 3 and 1 outputs."""
    torch.manual_seed(0)
    sizes = {
        "bottom_units": (16, 8),
        "tower_units": (4,),
        "dropout": 0.0,
        "n_experts": 3,
        "n_task_experts": 2,
        "n_levels": 3,
        "expert_units": (8, 4),
    }
    cls = HEAD_CLASSES[head]
    return cls(3 * 5 + 2, [1, 3, 1], **{k: sizes[k] for k in cls.hyperparameters}).eval()


@pytest.mark.parametrize("head", sorted(HEAD_CLASSES))
def test_every_head_scores_pairs_as_its_forward_at_depth(head):
    """Deeper than the defaults (PLE: three levels, two experts per task, two-layer experts):
    the pairwise fast path and a forward on the concatenated inputs give the same outputs."""
    net = _deep_head(head)
    # a small catalog (one product for the block) and a large one (a product per user)
    for n_users, n_items in ((4, 6), (2, 1500)):
        pairs = PairInput(torch.randn(n_users, 5), torch.randn(n_items, 5), torch.randn(1, 2))
        plain = net(pairs.dense())
        for fast, expected in zip(net.score_pairs(pairs), plain, strict=True):
            torch.testing.assert_close(fast, expected, rtol=1e-5, atol=1e-6)
        # ranking asks for some tasks only: those are the same, the others not computed
        for tasks in ([2], [0, 2]):
            some = net.score_pairs(pairs, tasks)
            for t, (fast, expected) in enumerate(zip(some, plain, strict=True)):
                if t in tasks:
                    torch.testing.assert_close(fast, expected, rtol=1e-5, atol=1e-6)
                else:
                    assert fast is None


@pytest.mark.parametrize("head", sorted(HEAD_CLASSES))
def test_every_head_scores_picked_rows_as_its_forward_at_depth(head):
    """Rows that pick their user and item among distinct vectors (predict's fast path), with
    their own interaction features, give what a forward on their concatenated inputs gives,
    in batches that share the distinct vectors' terms."""
    net = _deep_head(head)
    users, items = torch.randn(7, 5), torch.randn(4, 5)
    user_rows, item_rows = torch.randint(0, 7, (50,)), torch.randint(0, 4, (50,))
    shared = torch.randn(50, 2)
    u, i = users[user_rows], items[item_rows]
    plain = net(torch.cat([u, i, u * i, shared], dim=1))
    terms = {}
    batches = [
        net(RowPairs(users, items, user_rows[part], item_rows[part], shared[part], terms))
        for part in (slice(0, 30), slice(30, 50))
    ]
    assert terms  # the second batch read the first one's terms
    for t, expected in enumerate(plain):
        fast = torch.cat([batch[t] for batch in batches])
        torch.testing.assert_close(fast, expected, rtol=1e-5, atol=1e-6)


def test_ple_last_level_keeps_each_task_to_its_own_and_the_shared_experts():
    """In PLE's last level a task gates only its own experts and the shared ones: changing
    another task's experts there leaves its output as it was."""
    torch.manual_seed(0)
    net = PLE(
        12,
        [1, 1, 1],
        n_experts=2,
        n_task_experts=2,
        n_levels=2,
        expert_units=(8,),
        tower_units=(4,),
        dropout=0.0,
    ).eval()
    x = torch.randn(32, 12)
    before = net(x)
    with torch.no_grad():  # task 1's two experts of the last level
        net.levels[-1].task_experts.first.weight[2:4].normal_()
    after = net(x)
    torch.testing.assert_close(after[0], before[0])
    torch.testing.assert_close(after[2], before[2])
    assert not torch.allclose(after[1], before[1])
