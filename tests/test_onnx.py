"""export_onnx: the scoring graph in onnxruntime gives what predict and predict_proba give."""

import json

import numpy as np
import pandas as pd
import pytest

from skmtrec import MultiTaskRecommender
from skmtrec.datasets import make_interactions

onnxruntime = pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

TASKS = {"rating": "regression", "like": "binary", "category": "multiclass", "seen": "implicit"}


@pytest.fixture(scope="module")
def data():
    X, y = make_interactions(n_users=100, n_items=50, n_interactions=3000, random_state=0)
    X = X.drop(columns="item_text").assign(weekend=lambda f: f["user_id"] % 3 == 0)
    # rows the graph must serve from code 0: a new user, a new item, an unknown category
    new = X.head(3).assign(user_id=[-1, 5, 7], item_id=[3, -9, 4], user_segment="never seen")
    return X, y, pd.concat([X.head(200), new], ignore_index=True)


def run(model, path, rows) -> dict[str, np.ndarray]:
    session = onnxruntime.InferenceSession(str(path))
    names = [output.name for output in session.get_outputs()]
    return dict(zip(names, session.run(None, model.onnx_inputs(rows)), strict=True))


def assert_matches(model, outputs, rows):
    predictions = model.predict_tasks(rows)
    for name, kind in model.tasks_.items():
        if kind == "regression":
            np.testing.assert_allclose(outputs[name], predictions[name], atol=1e-4)
        elif kind in ("binary", "implicit"):
            proba = model.predict_proba(rows, task=name)[:, 1]
            np.testing.assert_allclose(outputs[name], proba, atol=1e-5)
        else:
            proba = model.predict_proba(rows, task=name)
            np.testing.assert_allclose(outputs[name], proba, atol=1e-5)


@pytest.mark.parametrize("architecture", ["mmoe", "ple", "shared_bottom"])
def test_the_graph_predicts_as_the_model(data, tmp_path, architecture):
    X, y, rows = data
    model = MultiTaskRecommender(TASKS, architecture=architecture, max_epochs=3, random_state=0)
    model.fit(X, y[["rating", "like", "category"]])
    path = model.export_onnx(tmp_path / "model.onnx")
    outputs = run(model, path, rows)
    assert list(outputs) == list(TASKS)
    assert_matches(model, outputs, rows)


def test_a_softmax_ranking_task_exports(data, tmp_path):
    X, y, rows = data
    model = MultiTaskRecommender(
        {"rating": "regression", "seen": "implicit"},
        ranking_loss="softmax",
        max_epochs=2,
        random_state=0,
    ).fit(X, y[["rating"]])
    assert_matches(model, run(model, model.export_onnx(tmp_path / "m.onnx"), rows), rows)


def test_a_model_without_ids_exports(data, tmp_path):
    X, y, rows = data
    model = MultiTaskRecommender(
        {"rating": "regression"}, user_col=None, item_col=None, max_epochs=2, random_state=0
    )
    features = ["user_age", "user_segment", "weekend"]
    model.fit(X[features], y[["rating"]])
    outputs = run(model, model.export_onnx(tmp_path / "m.onnx"), rows[features])
    assert_matches(model, outputs, rows[features])


def code_rows(encoding: dict, rows: pd.DataFrame) -> dict[str, np.ndarray]:
    """The README's recipe: a table coded from the exported JSON with pandas and numpy only."""

    def codes(values: list, column: pd.Series) -> np.ndarray:
        return pd.Index(values).get_indexer(column) + 1  # -1 (not seen) becomes 0

    inputs = {
        "numeric": np.column_stack(
            [(rows[c["column"]] - c["mean"]) / c["scale"] for c in encoding["numeric"]]
        ).astype(np.float32),
        "categorical": np.column_stack(
            [codes(c["values"], rows[c["column"]]) for c in encoding["categorical"]]
        ).astype(np.int64),
    }
    for role in ("user", "item"):
        if encoding[role] is not None:
            column = rows[encoding[role]["column"]]
            inputs[role] = codes(encoding[role]["values"], column).astype(np.int64)
    return inputs


def test_the_json_beside_the_graph_codes_rows_without_skmtrec(data, tmp_path):
    X, y, rows = data
    model = MultiTaskRecommender(TASKS, max_epochs=2, random_state=0)
    model.fit(X, y[["rating", "like", "category"]])
    path = model.export_onnx(tmp_path / "model.onnx")
    encoding = json.loads(path.with_suffix(".json").read_text())
    by_hand = code_rows(encoding, rows)
    for name, expected in model.onnx_inputs(rows).items():
        np.testing.assert_allclose(by_hand[name], expected, rtol=1e-6)
    assert encoding["outputs"]["category"]["classes"] == list(model.classes_["category"])
    assert encoding["outputs"]["rating"] == {"kind": "regression"}


def test_codes_outside_their_table_are_served_as_unseen(data, tmp_path):
    """Non-regression test for T10: Gather wrapped a code of -1 to the table's last row (and a
    code past the table failed in onnxruntime); both are served as code 0, unseen."""
    X, y, rows = data
    model = MultiTaskRecommender(TASKS, max_epochs=1, random_state=0)
    model.fit(X, y[["rating", "like", "category"]])
    path = model.export_onnx(tmp_path / "m.onnx")
    session = onnxruntime.InferenceSession(str(path))
    encoding = json.loads(path.with_suffix(".json").read_text())
    inputs = model.onnx_inputs(rows.head(20))
    sizes = {role: len(encoding[role]["values"]) + 1 for role in ("user", "item")}
    sizes["categorical"] = max(len(c["values"]) + 1 for c in encoding["categorical"])
    for role in ("user", "item", "categorical"):
        unseen = session.run(None, {**inputs, role: np.zeros_like(inputs[role])})
        for code in (-1, sizes[role] + 5):
            served = session.run(None, {**inputs, role: np.full_like(inputs[role], code)})
            for expected, got in zip(unseen, served, strict=True):
                np.testing.assert_allclose(got, expected, rtol=1e-6, err_msg=f"{role} {code}")


def test_a_model_stopped_per_task_exports_each_tasks_network(data, tmp_path):
    X, y, rows = data
    model = MultiTaskRecommender(TASKS, max_epochs=15, lr=0.05, patience=2, random_state=0).fit(
        X, y[["rating", "like", "category"]]
    )
    assert len(model.model_.members) > 1  # tasks served by networks of different epochs
    outputs = run(model, model.export_onnx(tmp_path / "m.onnx"), rows)
    assert_matches(model, outputs, rows)


def test_items_with_only_categorical_features_export(data, tmp_path):
    """The cold-item ridge's graph keeps its constant column where the items have no numeric
    feature (as MovieLens's genre flags)."""
    X, y, rows = data
    kind = {"item_kind": lambda f: (f["item_id"] % 4).map("abcd".__getitem__)}
    model = MultiTaskRecommender({"rating": "regression"}, max_epochs=2, random_state=0)
    model.fit(X.assign(**kind), y[["rating"]])
    assert model.model_.cold_items  # new items are blended with the ridge
    rows = rows.assign(**kind)
    assert_matches(model, run(model, model.export_onnx(tmp_path / "m.onnx"), rows), rows)
