"""bfloat16 autocast: ``mixed_precision="bf16"`` trains and predicts about
as well as float32 (histories pooled and losses computed in float32)."""

import numpy as np
import pytest
from sklearn.metrics import root_mean_squared_error

from skmtrec import MultiTaskRecommender
from skmtrec.datasets import make_interactions


@pytest.fixture(scope="module")
def data():
    X, y = make_interactions(n_users=200, n_items=100, n_interactions=3000, random_state=0)
    X = X.drop(columns="item_text")
    return X.iloc[:2500], y.iloc[:2500][["rating"]], X.iloc[2500:], y.iloc[2500:]["rating"]


def fitted_rmse(data, precision) -> tuple[float, MultiTaskRecommender]:
    X, y, X_test, y_test = data
    model = MultiTaskRecommender(
        tasks={"rating": "regression"}, mixed_precision=precision, max_epochs=5, random_state=0
    ).fit(X, y)
    return root_mean_squared_error(y_test, model.predict(X_test)), model


def test_bf16_learns_as_well_as_float32(data):
    full, _ = fitted_rmse(data, "no")
    half, model = fitted_rmse(data, "bf16")
    assert np.isfinite(model.predict(data[2])).all()
    assert half < 1.1  # the rating spread is 1.3 (the mean alone)
    assert abs(half - full) < 0.05


def test_auto_uses_float32_on_the_cpu(data):
    auto, _ = fitted_rmse(data, "auto")
    full, _ = fitted_rmse(data, "no")
    assert auto == full
