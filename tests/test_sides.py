"""Feature sides: item-side and user-side features, found or declared."""

import pickle

import numpy as np
import pandas as pd
import pytest

from skmtrec import MultiTaskRecommender
from skmtrec._prepare.projection import principal_projection
from skmtrec._prepare.sides import constant_within

from .conftest import TASKS


def test_constant_within_groups():
    groups = np.array([0, 1, 0, 2, 1])
    values = np.array([[1.0, 5], [2, 5], [1, 6], [3, 5], [2, 5]])
    np.testing.assert_array_equal(constant_within(groups, values, chunk=1), [True, False])


def test_auto_sides_follow_the_data(interactions):
    X, y = interactions
    X = X.assign(item_popular=X["item_id"] % 2 == 0, hour=np.arange(len(X)) % 24)
    model = MultiTaskRecommender(tasks=TASKS, max_epochs=1, random_state=0).fit(X, y)
    assert model.user_features_ == ["user_age", "user_segment"]
    assert model.item_features_ == ["item_popular"]
    # the hour varies within users and items: an interaction feature for the head
    features = model.network_spec_["features"]
    shared = set(features["numeric"] + features["categorical"]) - {
        *model.user_features_,
        *model.item_features_,
    }
    assert shared == {"hour"}


def test_declared_item_feature_that_varies_within_an_item_is_named(interactions):
    X, y = interactions
    model = MultiTaskRecommender(tasks=TASKS, item_features=["user_age"], max_epochs=1)
    with pytest.raises(ValueError, match=r"declares \['user_age'\], but they vary within one item"):
        model.fit(X, y)
    model.set_params(item_features=["genre"])
    with pytest.raises(ValueError, match=r"`item_features` names \['genre'\], which are not"):
        model.fit(X, y)


def test_no_sides_sends_every_feature_to_the_bottom(interactions):
    X, y = interactions
    model = MultiTaskRecommender(
        tasks=TASKS, item_features=None, user_features=None, max_epochs=1, random_state=0
    ).fit(X, y)
    assert model.user_features_ == [] and model.item_features_ == []
    sides = model.network_spec_["inputs"]["sides"]
    assert sides == {role: {"numeric": [], "categorical": []} for role in ("user", "item")}


def test_constant_within_tolerates_float_jitter():
    groups = np.array([0, 0, 1, 1])
    item_level = np.array([0.5, 0.5 + 2e-7, -1.0, -1.0 - 2e-7])  # float32 round-off
    per_row = np.array([0.5, 0.7, -1.0, -1.2])
    values = np.column_stack([item_level, per_row])
    np.testing.assert_array_equal(constant_within(groups, values), [False, False])
    np.testing.assert_array_equal(constant_within(groups, values, atol=1e-4), [True, False])


def test_item_embedding_with_round_off_stays_item_side(interactions):
    """A per-item float vector (a PCA of text embeddings) jitters in its last bits from row to
    row; it is still the item's own feature, not an interaction feature for the bottom."""
    X, y = interactions
    rng = np.random.RandomState(0)
    vectors = rng.normal(size=(X["item_id"].max() + 1, 2)).astype(np.float32)
    jitter = rng.normal(scale=1e-7, size=(len(X), 2)).astype(np.float32)
    text = vectors[X["item_id"]] * (1 + jitter)
    X = X.assign(text_0=text[:, 0], text_1=text[:, 1])
    model = MultiTaskRecommender(tasks=TASKS, max_epochs=1, random_state=0).fit(X, y)
    assert model.item_features_ == ["text_0", "text_1"]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])  # float32: as the encoder gives
def test_principal_projection_whitens_the_leading_components(dtype):
    rng = np.random.RandomState(0)
    rows = rng.normal(size=(200, 3)) @ rng.normal(size=(3, 10))  # rank 3 in 10 columns
    rows = rows.astype(dtype)
    projection = principal_projection(rows, 5)
    scores = (rows - rows.mean(axis=0)) @ projection
    np.testing.assert_allclose(np.cov(scores[:, :3].T), np.eye(3), atol=1e-4)
    # past the rows' rank (rounding noise at their precision): nothing, so a new row's
    # content off their span is not blown up (it was, by about 1e7, in float32)
    assert not projection[:, 3:].any()


def test_wide_item_content_enters_through_its_principal_components(interactions):
    X, y = interactions
    vectors = np.random.RandomState(0).normal(size=(X["item_id"].max() + 1, 40))
    text = pd.DataFrame(vectors[X["item_id"]], index=X.index).add_prefix("text_")
    X = pd.concat([X, text], axis=1)
    model = MultiTaskRecommender(
        tasks=TASKS, content_components=8, max_epochs=2, random_state=0
    ).fit(X, y)
    inputs = model.net_.module_.inputs
    assert set(text.columns) <= set(model.item_features_)
    assert inputs.item_projection.shape == (40, 8)
    assert not hasattr(inputs, "user_projection")  # fewer user columns than 8: kept as they are
    # the projection is fitted state: a new item's prediction follows its content
    new = X.head(1).assign(item_id=10_000)
    other = new.assign(**{c: -new[c] for c in text.columns})
    assert model.predict(new)[0, 0] != pytest.approx(model.predict(other)[0, 0], abs=1e-5)
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.predict(new), model.predict(new))

    for kept in (None, 40):  # no projection, or one as wide as the features
        model.set_params(content_components=kept).fit(X, y)
        assert not hasattr(model.net_.module_.inputs, "item_projection")
