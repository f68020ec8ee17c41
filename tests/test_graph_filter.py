"""The graph filter of the retrieval score: GF-CF's scores, sharpened, blended with the towers'."""

import json

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import skmtrec
from skmtrec import MultiTaskRecommender
from skmtrec._training import graph_filter
from skmtrec._training.graph_filter import IDEAL_WEIGHT, SHARPENING, GraphFilter, RetrievalGraph

from .test_retrieval import ids_only, two_communities


def random_pairs(n_users=40, n_items=30, n_rows=300, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(1, n_users + 1, n_rows), rng.integers(1, n_items + 1, n_rows)


def test_scores_are_gf_cf_sharpened_along_the_top_components():
    """Against the formulas on dense matrices: s = r P + a r Di^-1/2 V V^T Di^1/2, then
    s - g s V^T diag(sigma^2) V, with P = Rn^T Rn and Rn the degree-normalized R; V are the
    top right singular vectors of Rn."""
    users, items = random_pairs()
    graph = GraphFilter.fit(users, items, 40, 30, n_components=8, seed=0)
    R = np.zeros((41, 31))
    R[users, items] = 1.0
    du, di = R.sum(1), R.sum(0)
    Rn = R / np.sqrt(np.maximum(du, 1))[:, None] / np.sqrt(np.maximum(di, 1))[None, :]
    sigma = np.linalg.svd(Rn, compute_uv=False)[:8]
    np.testing.assert_allclose(graph.singular_values, sigma, rtol=1e-3)
    V = graph.components.astype(np.float64)
    r = R[[1, 5, 17]]
    s = r @ Rn.T @ Rn + IDEAL_WEIGHT * (r / np.sqrt(np.maximum(di, 1))) @ V.T @ (V * np.sqrt(di))
    expected = s - SHARPENING * (s @ V.T * graph.singular_values**2) @ V
    expected[:, 0] = 0.0
    np.testing.assert_allclose(graph.scores(sp.csr_matrix(r)), expected, rtol=1e-4, atol=1e-5)


def test_scores_in_chunks_of_users_are_the_scores_at_once(monkeypatch):
    """Each user's reach over the fit users is held dense a chunk at a time (bounded memory
    with many users beside few items); the chunks change nothing."""
    users, items = random_pairs()
    graph = GraphFilter.fit(users, items, 40, 30, n_components=8, seed=0)
    rows = graph.user_rows(np.arange(41))
    whole = graph.scores(rows)
    monkeypatch.setattr(graph_filter, "_REACH_PER_CHUNK", 41 * 3)  # three users a chunk
    np.testing.assert_allclose(graph.scores(rows), whole, rtol=1e-5, atol=1e-6)


def test_an_empty_history_scores_zero_and_repeats_count_once():
    users, items = random_pairs()
    graph = GraphFilter.fit(users, items, 40, 30, n_components=8, seed=0)
    twice = GraphFilter.fit(np.r_[users, users], np.r_[items, items], 40, 30, 8, seed=0)
    assert (graph.scores(graph.user_rows([0])) == 0).all()
    np.testing.assert_allclose(
        twice.scores(twice.user_rows([3, 4])), graph.scores(graph.user_rows([3, 4])), atol=1e-6
    )


def test_a_bad_saved_graph_names_its_field():
    users, items = random_pairs()
    state = RetrievalGraph("clicked", GraphFilter.fit(users, items, 40, 30, 8, 0), 0.25).state()
    assert RetrievalGraph.from_state(state).weight == 0.25
    for key, value, field in [
        ("indices", state["indices"] + 100, "graph indices"),
        ("components", state["components"][:, :5], "graph.components"),
        ("singular_values", state["singular_values"][:3], "graph.singular_values"),
        ("weight", -1.0, "graph.weight"),
        ("weight", float("inf"), "graph.weight"),
    ]:
        with pytest.raises(ValueError, match=field):
            RetrievalGraph.from_state({**state, key: value})


@pytest.fixture(scope="module")
def model():
    params = dict(ranking_loss="softmax", max_epochs=6, patience=None, random_state=0)
    return MultiTaskRecommender({"interacted": "implicit"}, **params).fit(ids_only()[0])


def test_recommend_ranks_by_the_standardized_towers_plus_the_weighted_filter(model):
    """Each user's score of an item is the towers' score less its mean over the catalog, over
    its standard deviation there, plus the weight times the filter's score standardized so."""
    X = ids_only()[0]
    users = np.sort(X["user_id"].unique())[:5]
    items = model.item_ids_
    recs = model.recommend(users, k=10)
    graph = model.model_.graph
    assert graph.weight == 0.25 and graph.task == "interacted"
    codes = np.asarray(model.model_.encoder.user_codes.transform(pd.Series(users)))
    filtered = graph.filter.scores(graph.filter.user_rows(codes))[:, 1:]
    for row, user in enumerate(users):
        pairs = pd.DataFrame({"user_id": user, "item_id": items})
        p = model.predict_proba(pairs, task="interacted")[:, 1].astype(np.float64)
        towers = np.log(p) - np.log1p(-p)  # the cosine over the temperature
        g = filtered[row]
        score = (towers - towers.mean()) / towers.std() + 0.25 * (g - g.mean()) / g.std()
        seen = set(X.loc[X["user_id"] == user, "item_id"])
        score[np.isin(items, list(seen))] = -np.inf
        best = np.argsort(-score, kind="stable")[:10]
        mine = recs[recs["user_id"] == user]
        np.testing.assert_allclose(mine["score"].to_numpy(), score[best], rtol=1e-3, atol=1e-3)
        assert list(mine["item_id"]) == list(items[best])


def test_recommend_over_given_items_scores_them_as_over_the_catalog(model):
    """Moments over the catalog: an item's score does not depend on the other items asked."""
    users = np.sort(ids_only()[0]["user_id"].unique())[:3]
    full = model.recommend(users, k=len(model.item_ids_), exclude_seen=False)
    some = pd.DataFrame({"item_id": model.item_ids_[::7]})
    part = model.recommend(users, k=len(some), exclude_seen=False, items=some)
    both = part.merge(full, on=["user_id", "item_id"], suffixes=("", "_full"))
    assert len(both) == len(part)
    np.testing.assert_allclose(both["score"], both["score_full"], rtol=1e-4, atol=1e-4)


def test_an_infinite_weight_is_refused_before_fit_and_keeps_the_fitted_model(model):
    before = model.recommend([1, 2], k=5)
    try:
        with pytest.raises(ValueError, match="'graph_weight' parameter"):
            model.set_params(graph_weight=float("inf")).fit(ids_only()[0])
    finally:
        model.set_params(graph_weight=0.25)
    pd.testing.assert_frame_equal(model.recommend([1, 2], k=5), before)


def test_a_weight_of_zero_keeps_no_filter_and_ranks_by_the_towers():
    X = two_communities()
    params = dict(ranking_loss="softmax", max_epochs=3, random_state=0)
    plain = MultiTaskRecommender({"interacted": "implicit"}, graph_weight=0, **params).fit(X)
    assert plain.model_.graph is None
    recs = plain.recommend([0], k=5)
    pairs = recs[["user_id", "item_id"]]
    np.testing.assert_allclose(
        recs["score"], plain.predict_proba(pairs, task="interacted")[:, 1], rtol=1e-5
    )


def test_the_filter_is_saved_and_a_model_saved_before_it_loads_without(tmp_path, model):
    users = np.arange(1, 20)
    folder = model.save(tmp_path / "model")
    loaded = skmtrec.load(folder)
    pd.testing.assert_frame_equal(loaded.recommend(users, k=10), model.recommend(users, k=10))
    manifest = json.loads((folder / "estimator.json").read_text())
    saved = manifest["estimator"]["state"]["fitted"]["graph"]
    for key, value, problem in [("task", "nope", "graph.task"), ("shape", [3, 4], "graph")]:
        changed = json.loads(json.dumps(manifest))
        changed["estimator"]["state"]["fitted"]["graph"] = {**saved, key: value}
        (folder / "estimator.json").write_text(json.dumps(changed))
        with pytest.raises(ValueError, match=problem):
            skmtrec.load(folder)
    del manifest["estimator"]["state"]["fitted"]["graph"]
    (folder / "estimator.json").write_text(json.dumps(manifest))
    old = skmtrec.load(folder)
    assert old.model_.graph is None
    recs = old.recommend(users[:1], k=5)
    pairs = recs[["user_id", "item_id"]]
    np.testing.assert_allclose(
        recs["score"], old.predict_proba(pairs, task="interacted")[:, 1], rtol=1e-5
    )


def test_a_new_user_given_a_history_is_ranked_by_the_filter_of_that_history():
    """A user new to fit has no interactions in the filter: the items given in the user table
    are theirs. With the filter weighing all, such a user given a known user's items gets the
    known user's list."""
    X = ids_only()[0]
    params = dict(ranking_loss="softmax", max_epochs=1, random_state=0)
    model = MultiTaskRecommender({"interacted": "implicit"}, graph_weight=1e4, **params).fit(X)
    known = X["user_id"].iloc[0]
    history = list(X.loc[X["user_id"] == known, "item_id"])
    table = pd.DataFrame({"user_id": [10**6], "history": [history]})
    new = model.recommend(table, k=10)
    assert list(new["item_id"]) == list(model.recommend([known], k=10)["item_id"])
    assert not set(new["item_id"]) & set(history)
