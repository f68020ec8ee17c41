"""Retrieval and re-ranking: the retrieval task's top candidates, then the head on those."""

import numpy as np
import pandas as pd
import pytest

from skmtrec import MultiTaskRecommender

from .conftest import dataset

TASKS = {"rating": "regression", "interacted": "implicit"}
TRAIN = 6500  # of the "split" data set's 8000 rows


def ids_only():
    X, y = dataset("split")
    return X[["user_id", "item_id"]].iloc[:TRAIN], y[["rating"]].iloc[:TRAIN]


@pytest.fixture(scope="module")
def model():
    params = dict(ranking_loss="softmax", max_epochs=6, patience=None, random_state=0)
    return MultiTaskRecommender(TASKS, **params).fit(*ids_only())


@pytest.fixture(scope="module")
def users():
    X, _ = dataset("split")
    return np.sort(X["user_id"].iloc[:TRAIN].unique())[:60]


def test_retrieval_alone_is_the_exact_top_k_of_its_score(users):
    """Ranked by the retrieval task without the graph filter, recommend is its exact top k
    among unseen items, scored as predict scores each pair (with the filter: in
    test_graph_filter)."""
    X, y = ids_only()
    params = dict(ranking_loss="softmax", max_epochs=6, patience=None, random_state=0)
    model = MultiTaskRecommender(TASKS, graph_weight=0, **params).fit(X, y)
    recs = model.recommend(users[:5], k=10)
    items = model.item_ids_
    for user in users[:5]:
        pairs = pd.DataFrame({"user_id": user, "item_id": items})
        scores = model.predict_proba(pairs, task="interacted")[:, 1]
        seen = set(X.loc[X["user_id"] == user, "item_id"])
        allowed = np.array([item not in seen for item in items])
        best = np.argsort(-np.where(allowed, scores, -np.inf), kind="stable")[:10]
        mine = recs[recs["user_id"] == user]
        np.testing.assert_allclose(mine["score"].to_numpy(), scores[best], rtol=1e-5)
        assert set(mine["item_id"]) == set(items[best])


def test_reranking_scores_candidates_as_predict_and_keeps_more_with_more_candidates(model, users):
    """Re-ranked by the rating, each item's score is its predicted rating; the share of the
    exhaustive ranking's top 10 that retrieval + re-ranking keeps grows with the candidates
    and is whole once they cover the catalog."""
    exhaustive = model.recommend(users, k=10, task="rating", candidates=len(model.item_ids_))
    kept = []
    for n in (10, 30, len(model.item_ids_) - 1):
        reranked = model.recommend(users, k=10, task="rating", candidates=n)
        predicted = model.predict_tasks(reranked[["user_id", "item_id"]])["rating"]
        np.testing.assert_allclose(reranked["score"].to_numpy(), predicted, rtol=1e-4)
        assert (reranked.groupby("user_id")["score"].diff().dropna() <= 1e-6).all()
        both = reranked.merge(exhaustive, on=["user_id", "item_id"])
        kept.append(len(both) / len(exhaustive))
    assert kept[0] <= kept[1] <= kept[2] and kept[2] > 0.97
    assert kept[0] < 0.9  # the retrieval's own top 10 is not the rating's


def test_candidates_must_be_a_positive_int(model, users):
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="candidates must be a positive int"):
            model.recommend(users[:2], k=5, task="rating", candidates=bad)


def two_communities(n_users=60, n_items=40, seed=0):
    """Users 0..n/2 interact only with items 0..m/2, the others only with the rest."""
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(n_users):
        half = user < n_users // 2
        pool = np.arange(n_items // 2) if half else np.arange(n_items // 2, n_items)
        rows += [(user, item) for item in rng.choice(pool, 12, replace=False)]
    return pd.DataFrame(rows, columns=["user_id", "item_id"])


@pytest.fixture(scope="module")
def communities():
    X = two_communities()
    model = MultiTaskRecommender(
        {"interacted": "implicit"}, ranking_loss="softmax", max_epochs=30, random_state=0
    )
    return model.fit(X)


def test_similar_users_and_items_come_from_the_same_community(communities):
    users = communities.similar_users([0, 45], k=5)
    assert list(users.columns) == ["user_id", "rank", "similar_user_id", "similarity"]
    assert (users.loc[users["user_id"] == 0, "similar_user_id"] < 30).all()
    assert (users.loc[users["user_id"] == 45, "similar_user_id"] >= 30).all()
    assert not (users["user_id"] == users["similar_user_id"]).any()
    items = communities.similar_items([3, 33], k=5)
    assert (items.loc[items["item_id"] == 3, "similar_item_id"] < 20).all()
    assert (items.loc[items["item_id"] == 33, "similar_item_id"] >= 20).all()


def test_similarity_reads_the_retrieval_vectors(communities):
    """The similarity of two users is the cosine of their retrieval vectors."""
    model = communities.model_
    ids, inputs = model.known("user")
    vectors = model.retrieval_vectors("user", inputs).numpy()
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    top = communities.similar_users([ids[0]], k=1)
    other = int(np.flatnonzero(ids == top["similar_user_id"].iloc[0])[0])
    np.testing.assert_allclose(top["similarity"].iloc[0], unit[0] @ unit[other], rtol=1e-5)


def catalog_of(n_items: int, n_users: int = 500, seed: int = 0) -> pd.DataFrame:
    """Every item once, by a random user."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {"user_id": rng.integers(0, n_users, n_items), "item_id": np.arange(n_items)}
    )


@pytest.mark.parametrize(("n_items", "scorer"), [(9_999, None), (10_000, "dot")])
def test_auto_ranking_loss_retrieves_from_ten_thousand_items(n_items, scorer):
    model = MultiTaskRecommender({"clicked": "implicit"}, max_epochs=1, random_state=0)
    model.fit(catalog_of(n_items))
    assert model.ranking_loss == "auto"  # the parameter stays as given
    assert model.network_spec_["tasks"][0].get("scorer") == scorer


def test_gradnorm_keeps_auto_on_the_head():
    model = MultiTaskRecommender(
        {"rating": "regression", "clicked": "implicit"},
        task_balancing="gradnorm",
        max_epochs=1,
        random_state=0,
    )
    X = catalog_of(10_000)
    model.fit(X, pd.DataFrame({"rating": np.arange(len(X)) % 5, "clicked": 1.0}))
    assert all(task.get("scorer") is None for task in model.network_spec_["tasks"])


@pytest.mark.parametrize(("n_rows", "share"), [(50_000, 1.0), (102_400, 1.0), (409_600, 0.25)])
def test_an_epoch_decays_the_weights_no_more_than_a_hundred_steps(n_rows, share):
    from skmtrec._training.build import step_weight_decay

    params = {"weight_decay": 2.0, "batch_size": 1024}
    assert step_weight_decay(params, n_rows) == pytest.approx(2.0 * share)


def test_retrieval_never_returns_a_seen_item_and_gives_fewer_rows_past_the_unseen(communities):
    recs = communities.recommend([0, 45], k=40)
    X = two_communities()
    for user in (0, 45):
        mine = recs[recs["user_id"] == user]
        seen = set(X.loc[X["user_id"] == user, "item_id"])
        assert len(mine) == 40 - len(seen) and not seen & set(mine["item_id"])
        assert np.isfinite(mine["score"]).all()


def test_blocks_of_users_do_not_change_reranking(model, monkeypatch):
    """Retrieval and re-ranking in many small blocks of users give the one-block result, each
    score the predicted rating of its pair."""
    from skmtrec._serving import retrieval

    X, _ = ids_only()
    everyone = np.sort(X["user_id"].unique())
    whole = model.recommend(everyone, k=10, task="rating", candidates=40)
    monkeypatch.setattr(retrieval, "_CANDIDATES_PER_BLOCK", 40 * 23)
    monkeypatch.setattr(retrieval, "_RETRIEVAL_SCORES_PER_BLOCK", 5 * len(model.item_ids_))
    monkeypatch.setattr(retrieval, "_ROWS_PER_BLOCK", 40 * 7)
    blocks = model.recommend(everyone, k=10, task="rating", candidates=40)
    pd.testing.assert_frame_equal(blocks, whole)
    predicted = model.predict_tasks(blocks[["user_id", "item_id"]])["rating"]
    np.testing.assert_allclose(blocks["score"].to_numpy(), predicted, rtol=1e-4)


def test_k_above_candidates_retrieves_k(model, users):
    recs = model.recommend(users[:3], k=25, task="rating", candidates=5)
    assert (recs.groupby("user_id").size() == 25).all()


def test_a_saved_auto_model_loads_as_the_softmax_it_chose(tmp_path):
    """``ranking_loss="auto"`` chose the softmax at fit; the loaded model is that model."""
    import skmtrec

    X = catalog_of(10_000)
    model = MultiTaskRecommender({"clicked": "implicit"}, max_epochs=1, random_state=0).fit(X)
    loaded = skmtrec.load(model.save(tmp_path / "model"))
    assert loaded.network_spec_["tasks"][0]["scorer"] == "dot"
    users = np.arange(5)
    pd.testing.assert_frame_equal(loaded.recommend(users, k=10), model.recommend(users, k=10))


def test_a_softmax_model_saved_before_the_scorer_settings_loads_as_a_dot_product(tmp_path):
    """A spec without similarity and temperature (saved before they existed) builds the plain
    dot product it was trained with."""
    import json

    import skmtrec

    X = two_communities()
    model = MultiTaskRecommender(
        {"interacted": "implicit"}, ranking_loss="softmax", max_epochs=2, random_state=0
    ).fit(X)
    folder = model.save(tmp_path / "model")
    manifest = json.loads((folder / "estimator.json").read_text())
    task = manifest["estimator"]["state"]["fitted"]["network_spec_"]["tasks"][0]
    del task["similarity"], task["temperature"]
    (folder / "estimator.json").write_text(json.dumps(manifest))
    loaded = skmtrec.load(folder)
    scorer = loaded.model_.module.dot[0]
    assert (scorer.similarity, scorer.temperature) == ("dot", 1.0)
