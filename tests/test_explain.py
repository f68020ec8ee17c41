"""Explanations: explain(X) per input group, and recommend(explain=True)'s `because` item."""

import numpy as np
import pandas as pd
import pytest

from skmtrec import MultiTaskRecommender
from skmtrec._serving.explain import feature_groups
from skmtrec.exceptions import UnseenIdWarning


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


def test_because_for_a_new_users_given_history_lifts_the_item_above_its_competitors(pairs):
    """Checked through the public API alone. The competitors are the 30 items the full
    history ranks highest (those not seen); score every item with each history item removed
    in turn: the `because` item's removal lowers the recommended item's logit the most
    beyond the mean it lowers the competitors' logits."""
    model, X, _ = pairs
    history = [0, 1, 2, 3, 10]
    user = pd.DataFrame({"user_id": [-1], "history": [history]})
    top = model.recommend(user, k=3, explain=True)
    competitors = model.recommend(user, k=30)["item_id"]
    n_items = X["item_id"].nunique()
    specific = {}
    for h in history:
        fewer = pd.DataFrame({"user_id": [-1], "history": [[m for m in history if m != h]]})
        scores = model.recommend(fewer, k=n_items, exclude_seen=False).set_index("item_id")
        logits = np.log(scores["score"].astype(float) / (1 - scores["score"].astype(float)))
        specific[h] = logits - logits[competitors].mean()
    for item, because in zip(top["item_id"], top["because"], strict=True):
        assert min(history, key=lambda h: specific[h][item]) == because
    assert set(top["because"]) <= set(history)


def test_explain_needs_the_users_histories(pairs):
    _, X, _ = pairs
    model = MultiTaskRecommender({"seen": "implicit"}, user_history=False, max_epochs=1).fit(X)
    with pytest.raises(ValueError, match="user_history=True"):
        model.recommend([0], explain=True)
    # a user with no history has no `because`
    full = pairs[0].recommend(pd.DataFrame({"user_id": [-1]}), k=2, explain=True)
    assert full["because"].isna().all()


COMMUNITY, HUB = 20, 40  # items 0-19 and 20-39 are never taken together; 40 by most users


@pytest.fixture(scope="module")
def communities():
    """Two communities of items that no user mixes, and an item (the hub) that 80% of users
    of both take. 40 users of fit took one item of each community; new users give one of
    each and the hub. Whatever is recommended, only the member of its own community can be
    why: the hub co-occurs with both alike, and the other member never with it."""
    rng = np.random.default_rng(0)
    rows, mixed = [], {}
    for user in range(400):
        items = list(rng.choice(COMMUNITY, 5, replace=False) + (user % 2) * COMMUNITY)
        rows += [(user, i) for i in items + [HUB] * (rng.random() < 0.8)]
    for user in range(400, 440):
        mixed[user] = [int(rng.integers(COMMUNITY)), int(rng.integers(COMMUNITY, 2 * COMMUNITY))]
        rows += [(user, i) for i in mixed[user]]
    X = pd.DataFrame(rows, columns=["user_id", "item_id"])
    model = MultiTaskRecommender(
        {"seen": "implicit"}, batch_size=64, max_epochs=40, random_state=0
    ).fit(X)
    given = pd.DataFrame(
        {
            "user_id": -np.arange(1, 41),
            "history": [
                [int(rng.integers(COMMUNITY)), int(rng.integers(COMMUNITY, 2 * COMMUNITY)), HUB]
                for _ in range(40)
            ],
        }
    )
    return model, list(mixed), given


def test_because_is_the_history_item_of_the_recommended_items_community(communities):
    model, mixed, _ = communities
    # every item not seen, so that both communities are recommended
    top = model.recommend(mixed, k=2 * COMMUNITY - 2, explain=True)
    top = top[top["item_id"] != HUB]
    assert (top["item_id"] // COMMUNITY).value_counts().min() > 0.3 * len(top)
    same = (top["because"] // COMMUNITY == top["item_id"] // COMMUNITY).mean()
    # measured: 1.0 (0.999 to 1.0 over 6 seeds; chance: 0.5; before the fix: 0.75 to 0.99)
    assert same > 0.95, same


def test_an_item_in_most_histories_is_not_the_reason_for_everything(communities):
    """Non-regression test for `because` naming the member whose removal lowers the item's
    score the most: taking the hub away lowers every score, more than taking away the member
    of the item's community, so the hub was the reason for every one of these
    recommendations (and the community's member for none). A member's drop is now measured
    beyond its mean drop over the item's competitors (the items the user's history ranks
    highest)."""
    model, _, given = communities
    with pytest.warns(UnseenIdWarning):
        top = model.recommend(given, k=2 * COMMUNITY - 2, explain=True)
    assert (top["item_id"] // COMMUNITY).value_counts().min() > 0.3 * len(top)
    same = (top["because"] // COMMUNITY == top["item_id"] // COMMUNITY).mean()
    # measured: 0.72 (0.72 to 0.99 over 6 seeds); before the fix: 0.0
    assert same > 0.6, same
    by_user = (top["because"] == HUB).groupby(top["user_id"]).mean()
    assert by_user.max() < 0.5, by_user.max()  # measured: 0.39; before: 1.0 for every user


def test_because_with_one_candidate_item_is_its_largest_drop(pairs):
    """One item ranked has no spread to stand against: the member whose absence lowers its
    score the most is the reason."""
    model, X, missing = pairs
    user, item = 0, missing[0]
    candidate = pd.DataFrame({"item_id": [item]})
    top = model.recommend([user], k=1, items=candidate, explain=True)
    history = X.loc[X["user_id"] == user, "item_id"].tolist()
    scores = {}
    for h in history:
        fewer = pd.DataFrame({"user_id": [-1], "history": [[m for m in history if m != h]]})
        scored = model.recommend(fewer, k=1, items=candidate, exclude_seen=False)
        scores[h] = scored["score"].iloc[0]
    given = model.recommend(
        pd.DataFrame({"user_id": [-1], "history": [history]}), k=1, items=candidate, explain=True
    )
    assert given["because"].iloc[0] == min(scores, key=scores.get)
    assert top["because"].iloc[0] in history
