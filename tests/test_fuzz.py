"""Fuzzing fit and predict with small random tables: every outcome is finite predictions or a
clear ValueError / TypeError, never another exception."""

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skmtrec import MultiTaskRecommender

COLUMN_KINDS = ("int", "float", "float_nan", "str", "str_none", "bool", "category", "mixed")


def column(kind: str, n: int, rng: np.random.Generator) -> pd.Series:
    values = rng.integers(0, 4, n)
    if kind == "int":
        return pd.Series(values)
    if kind == "float":
        return pd.Series(rng.normal(size=n))
    if kind == "float_nan":
        return pd.Series(np.where(rng.random(n) < 0.3, np.nan, rng.normal(size=n)))
    if kind == "str":
        return pd.Series([f"v{v}" for v in values])
    if kind == "str_none":
        return pd.Series([None if v == 0 else f"v{v}" for v in values], dtype=object)
    if kind == "bool":
        return pd.Series(values > 1)
    if kind == "category":
        return pd.Series(pd.Categorical([f"c{v}" for v in values]))
    return pd.Series([v if v % 2 else f"s{v}" for v in values], dtype=object)  # mixed


@st.composite
def tables(draw):
    n = draw(st.integers(1, 60))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    X = pd.DataFrame(
        {
            "user_id": draw(st.sampled_from(["int", "str", "float"])),
            "item_id": draw(st.sampled_from(["int", "str", "mixed"])),
        },
        index=range(n),
    )
    X = X.apply(lambda c: column(c.iloc[0], n, rng))
    if draw(st.booleans()) and draw(st.booleans()):
        X.loc[0, "user_id"] = None  # a missing id, now and then
    for j in range(draw(st.integers(0, 3))):
        X[f"f{j}"] = column(draw(st.sampled_from(COLUMN_KINDS)), n, rng)
    missing = draw(st.sampled_from([0.0, 0.3, 0.9, 1.0]))
    rating = np.where(rng.random(n) < missing, np.nan, rng.integers(1, 6, n).astype(float))
    like = np.where(rng.random(n) < missing, np.nan, (rng.random(n) < 0.5).astype(float))
    if n > 2 and missing < 1:
        like[:2] = [0.0, 1.0]  # mostly two classes, so that most tables fit
    y = pd.DataFrame({"rating": rating, "like": like})
    return X, y


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,  # the same tables every run: a test does not depend on luck
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(tables(), st.sampled_from([0.0, 0.2]))
def test_fit_and_predict_give_finite_predictions_or_a_clear_error(table, validation_fraction):
    X, y = table
    model = MultiTaskRecommender(
        tasks={"rating": "regression", "like": "binary"},
        max_epochs=2,
        batch_size=16,
        validation_fraction=validation_fraction,
        random_state=0,
    )
    try:
        model.fit(X, y)
    except (ValueError, TypeError) as exc:
        assert str(exc)  # a message, not a bare exception
        return
    predictions = model.predict_tasks(X)
    assert np.isfinite(predictions["rating"].to_numpy(dtype=float)).all()
    assert predictions["like"].isin([0.0, 1.0]).all()
