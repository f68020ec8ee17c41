"""Explanations: explain(X) per input group, and recommend(explain=True)'s `because` item."""

import numpy as np
import pandas as pd
import pytest

from skmtrec import MultiTaskRecommender
from skmtrec._serving.explain import feature_groups


@pytest.fixture(scope="module")
def one_feature_model():
    """A rating that depends on the numeric feature x only; z and c are noise, ids random."""
    rng = np.random.default_rng(0)
    n = 6000
    X = pd.DataFrame(
        {
            "user_id": rng.integers(0, 200, n),
            "item_id": rng.integers(0, 100, n),
            "x": rng.normal(size=n),
            "z": rng.normal(size=n),
            "c": rng.choice(list("abc"), n),
        },
        index=pd.RangeIndex(1000, 1000 + n),
    )
    y = pd.DataFrame({"rating": 3 + 1.5 * X["x"] + 0.1 * rng.normal(size=n)}, index=X.index)
    model = MultiTaskRecommender({"rating": "regression", "like": "binary"}, random_state=0)
    return model.fit(X, y.assign(like=(y["rating"] > 3).astype(float))), X


def test_the_feature_a_target_depends_on_carries_the_explanation(one_feature_model):
    model, X = one_feature_model
    contributions = model.explain(X)
    assert list(contributions.columns) == [
        "user_id",
        "user_history",
        "item_id",
        "item_history",
        "x",
        "z",
        "c",
    ]
    assert contributions.index.equals(X.index)
    size = contributions.abs().mean()
    # measured: x 1.21; the largest other group 0.33 (item id), z 0.013
    assert size["x"] > 3 * size.drop("x").max(), size
    # and in the right direction: rating = 3 + 1.5 x, so x's part follows x
    assert np.corrcoef(contributions["x"], X["x"])[0, 1] > 0.95
    # a row at the mean of x owes nothing to x
    at_mean = (X["x"] - X["x"].mean()).abs() < 0.05
    assert contributions.loc[at_mean, "x"].abs().mean() < 0.15


def test_a_binary_task_is_explained_in_probabilities(one_feature_model):
    model, X = one_feature_model
    contributions = model.explain(X.head(300), task="like")
    assert contributions.abs().to_numpy().max() <= 1.0
    size = contributions.abs().mean()
    assert size.idxmax() == "x", size


def test_an_unknown_task_is_named(one_feature_model):
    model, X = one_feature_model
    with pytest.raises(ValueError, match="'stars' is not a task"):
        model.explain(X.head(), task="stars")


def test_text_embedding_columns_form_one_group():
    numeric = ["age", "title_0", "title_1", "title_2", "size_1"]
    groups = feature_groups(numeric, ["gender"])
    assert groups == {
        "age": ([0], []),
        "title": ([1, 2, 3], []),
        "size_1": ([4], []),  # one column of that name: itself
        "gender": ([], [0]),
    }


@pytest.fixture(scope="module")
def pairs():
    """Items come in pairs (2p, 2p+1) that users take together; each user has one pair's
    first member without its partner, which the model should recommend, because of it."""
    rng = np.random.default_rng(0)
    rows, missing = [], {}
    for user in range(400):
        chosen = rng.choice(30, 6, replace=False)
        rows += [(user, 2 * p + side) for p in chosen[:-1] for side in (0, 1)]
        rows.append((user, 2 * chosen[-1]))
        missing[user] = 2 * chosen[-1] + 1
    X = pd.DataFrame(rows, columns=["user_id", "item_id"])
    # small batches and patience: the pair structure emerges only after a plateau
    model = MultiTaskRecommender(
        {"seen": "implicit"},
        batch_size=64,
        negative_ratio=4,
        patience=10,
        max_epochs=60,
        random_state=0,
    )
    return model.fit(X), X, missing


def test_because_names_the_history_item_behind_a_recommendation(pairs):
    model, X, missing = pairs
    top = model.recommend(np.arange(400), k=1, explain=True)
    assert list(top.columns) == ["user_id", "rank", "item_id", "score", "because"]
    found = (top["item_id"] == top["user_id"].map(missing)).mean()
    assert found > 0.7, found  # measured: 0.82 (chance: 1 in 49)
    # the partner in the history is why: its absence lowers the score the most
    partner = (top["because"] == (top["item_id"] ^ 1)).mean()
    assert partner > 0.7, partner  # measured: 0.82
    history = set(zip(X["user_id"], X["item_id"], strict=True))
    assert all(pair in history for pair in zip(top["user_id"], top["because"], strict=True))


def test_because_for_a_new_users_given_history_is_the_largest_drop(pairs):
    """Checked through the public API alone: recommend the item to the same user with each
    history item removed in turn; the `because` item's removal scores lowest."""
    model, _, _ = pairs
    history = [0, 1, 2, 3, 10]
    user = pd.DataFrame({"user_id": [-1], "history": [history]})
    top = model.recommend(user, k=3, explain=True)
    for item, because in zip(top["item_id"], top["because"], strict=True):
        candidates = pd.DataFrame({"item_id": [item]})
        without = {}
        for h in history:
            fewer = pd.DataFrame({"user_id": [-1], "history": [[m for m in history if m != h]]})
            scored = model.recommend(fewer, k=1, items=candidates, exclude_seen=False)
            without[h] = scored["score"].iloc[0]
        assert min(without, key=without.get) == because
    assert set(top["because"]) <= set(history)


def test_explain_needs_the_users_histories(pairs):
    _, X, _ = pairs
    model = MultiTaskRecommender({"seen": "implicit"}, user_history=False, max_epochs=1).fit(X)
    with pytest.raises(ValueError, match="user_history=True"):
        model.recommend([0], explain=True)
    # a user with no history has no `because`
    full = pairs[0].recommend(pd.DataFrame({"user_id": [-1]}), k=2, explain=True)
    assert full["because"].isna().all()
