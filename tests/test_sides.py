"""Feature sides: item-side and user-side features, found or declared."""

import numpy as np
import pytest

from skmtrec import MultiTaskRecommender
from skmtrec._sides import constant_within

from .conftest import TASKS


def test_constant_within_groups():
    groups = np.array([0, 1, 0, 2, 1])
    values = np.array([[1.0, 5], [2, 5], [1, 6], [3, 5], [2, 5]])
    np.testing.assert_array_equal(constant_within(groups, values, chunk=1), [True, False])


def test_auto_sides_follow_the_data(interactions):
    X, y = interactions
    X = X.assign(item_popular=X["item_id"] % 2 == 0, hour=np.arange(len(X)) % 24)
    model = MultiTaskRecommender(tasks=TASKS, max_epochs=1, random_state=0).fit(X, y)
    module = model.net_.module_
    numeric, categorical = model._encoder.numeric_labels, model._encoder.categorical_labels
    user_numeric, user_categorical = module._side_columns["user"]
    item_numeric, item_categorical = module._side_columns["item"]
    assert [numeric[j] for j in user_numeric] == ["user_age"]
    assert [categorical[j] for j in user_categorical] == ["user_segment"]
    assert [categorical[j] for j in item_categorical] == ["item_popular"]
    assert item_numeric == ()
    # the hour varies within users and items: an interaction feature for the bottom
    assert [numeric[j] for j in module._shared_numeric] == ["hour"]


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
    module = model.net_.module_
    assert "content" not in module.sides["user"] and "content" not in module.sides["item"]
    assert len(module._shared_numeric) + len(module._shared_categorical) == 2


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
    module = model.net_.module_
    numeric = model._encoder.numeric_labels
    assert [numeric[j] for j in module._side_columns["item"][0]] == ["text_0", "text_1"]
    assert [numeric[j] for j in module._shared_numeric] == []


def test_item_feature_shrinkage_gives_way_to_the_id_as_interactions_grow(interactions):
    X, y = interactions
    X = X.assign(item_popular=X["item_id"] % 2 == 0)
    model = MultiTaskRecommender(
        tasks=TASKS, item_feature_shrinkage=10.0, max_epochs=1, random_state=0
    ).fit(X, y)
    weight = model.net_.module_.item_feature_weight.numpy()
    codes = model._encoder.transform(X)["item"]
    counts = np.bincount(codes, minlength=len(weight))
    assert weight[0] == 1.0  # an item unseen in fit: its features are all there is
    np.testing.assert_allclose(weight[1:], 10.0 / (10.0 + counts[1:]), rtol=1e-6)
    assert counts[1:].min() > 0 and (weight[1:] < 1).all()

    # every unseen item takes row 0; its features, at full weight, set it apart
    new = X.head(1).assign(item_id=10_000)
    other = new.assign(item_id=10_001, item_popular=~new["item_popular"])
    assert model.predict(new)[0, 0] != pytest.approx(model.predict(other)[0, 0], abs=1e-5)

    unscaled = model.set_params(item_feature_shrinkage=None).fit(X, y)
    assert unscaled.net_.module_.item_feature_weight is None
