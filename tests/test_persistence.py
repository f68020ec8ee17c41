"""Safe persistence: skmtrec.save / skmtrec.load, a folder of JSON, npz and safetensors."""

import json
import pickle

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.utils.validation import check_is_fitted
from skorch.callbacks import EpochTimer

import skmtrec
from skmtrec import PLE, MultiTaskRecommender, SentenceEmbedder
from skmtrec._persistence import trusted as _trusted
from skmtrec.datasets import make_interactions
from skmtrec.inspection import TrainingHistoryDisplay

from .conftest import dataset

TASKS = {"rating": "regression", "like": "binary", "category": "multiclass", "seen": "implicit"}


@pytest.fixture(scope="module")
def data():
    X, y = make_interactions(n_users=120, n_items=60, n_interactions=4000, random_state=0)
    X = X.drop(columns="item_text")
    # vocabularies of every kind: strings, ints, bools, a pandas categorical
    X["weekend"] = X["user_id"] % 3 == 0
    X["region"] = pd.Categorical(np.where(X["user_id"] % 2 == 0, "north", "south"))
    return X, y


@pytest.fixture(scope="module")
def fitted(data):
    X, y = data
    model = MultiTaskRecommender(TASKS, max_epochs=3, random_state=0)
    return model.fit(X, y)


@pytest.fixture
def no_pickle(monkeypatch):
    """Every way to unpickle fails while the fixture is active."""

    def refuse(*args, **kwargs):
        raise AssertionError("pickle was used")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    monkeypatch.setattr(torch, "load", refuse)


def assert_same_model(loaded, model, X, y):
    users = pd.DataFrame({"user_id": X["user_id"].unique()[:20]})
    pd.testing.assert_frame_equal(loaded.predict_tasks(X), model.predict_tasks(X))
    for task in ("like", "category"):
        np.testing.assert_array_equal(
            loaded.predict_proba(X, task=task), model.predict_proba(X, task=task)
        )
    pd.testing.assert_frame_equal(loaded.recommend(users, k=5), model.recommend(users, k=5))
    pd.testing.assert_frame_equal(
        loaded.similar_items([1, 2], k=3), model.similar_items([1, 2], k=3)
    )
    assert loaded.score(X, y) == model.score(X, y)


def test_a_fitted_model_loads_bit_identical_without_pickle(fitted, data, tmp_path, no_pickle):
    X, y = data
    folder = fitted.save(tmp_path / "model")
    assert {p.name for p in folder.iterdir()} == {
        "estimator.json",
        "arrays.npz",
        "weights.safetensors",
        "history.json",
    }
    loaded = skmtrec.load(folder)
    assert_same_model(loaded, fitted, X, y)
    assert loaded.get_params() == fitted.get_params()
    assert loaded.tasks_ == fitted.tasks_
    assert loaded.user_ids_.equals(fitted.user_ids_) and loaded.item_ids_.equals(fitted.item_ids_)
    np.testing.assert_array_equal(loaded.feature_names_in_, fitted.feature_names_in_)
    for task in ("like", "category"):
        np.testing.assert_array_equal(loaded.classes_[task], fitted.classes_[task])
    assert loaded.network_spec_ == fitted.network_spec_
    # the training history comes along: the picture of training draws from it
    assert loaded.net_.history[:, "valid_loss"] == fitted.net_.history[:, "valid_loss"]
    display = TrainingHistoryDisplay.from_estimator(loaded)
    assert display.best_epoch == TrainingHistoryDisplay.from_estimator(fitted).best_epoch


def test_a_loaded_model_serves_a_new_users_history(fitted, tmp_path):
    loaded = skmtrec.load(fitted.save(tmp_path / "model"))
    new_user = pd.DataFrame({"user_id": [-1], "history": [[1, 2, 3]]})
    pd.testing.assert_frame_equal(loaded.recommend(new_user, k=5), fitted.recommend(new_user, k=5))


def test_the_softmax_ranking_model_loads_identical(data, tmp_path):
    X, y = data
    model = MultiTaskRecommender(
        {"rating": "regression", "seen": "implicit"},
        ranking_loss="softmax",
        max_epochs=2,
        random_state=0,
    ).fit(X, y[["rating"]])
    loaded = skmtrec.load(model.save(tmp_path / "model"))
    users = pd.DataFrame({"user_id": [1, 2, 3]})
    pd.testing.assert_frame_equal(loaded.recommend(users, k=5), model.recommend(users, k=5))
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_buffers_of_fit_come_back(data, tmp_path):
    """Content projections are data of fit kept in the network's buffers; a PLE head and
    fixed weights for good measure."""
    X, y = data
    wide = X.assign(**{f"emb_{k}": np.sin(X["item_id"] * (k + 1)) for k in range(40)})
    model = MultiTaskRecommender(
        {"rating": "regression"},
        content_components=8,
        architecture="ple",
        task_balancing="fixed",
        max_epochs=2,
        random_state=0,
    ).fit(wide, y[["rating"]])
    assert model.net_.module_.inputs.item_projection.shape == (40, 8)
    loaded = skmtrec.load(model.save(tmp_path / "model"))
    np.testing.assert_array_equal(loaded.predict(wide), model.predict(wide))
    new_item = wide.head(5).assign(item_id=-1)
    np.testing.assert_array_equal(loaded.predict(new_item), model.predict(new_item))


def test_positional_columns_and_integer_task_names(tmp_path):
    """A 2-D array X (columns named 0, 1, ...) and an array y (tasks named y0, y1)."""
    X, y = dataset("tiny")
    X_arr = X[["user_id", "item_id", "user_age"]].to_numpy()
    y_arr = y[["rating", "like"]].to_numpy()
    model = MultiTaskRecommender(user_col=0, item_col=1, max_epochs=2, random_state=0)
    model.fit(X_arr, y_arr)
    loaded = skmtrec.load(model.save(tmp_path / "model"))
    assert loaded.tasks_ == model.tasks_ == {"y0": "regression", "y1": "regression"}
    np.testing.assert_array_equal(loaded.predict(X_arr), model.predict(X_arr))
    assert not hasattr(loaded, "feature_names_in_")


def test_an_unfitted_model_keeps_its_parameters(tmp_path):
    model = MultiTaskRecommender(TASKS, architecture=PLE(tower_units=(16, 8)), lr=0.01)
    loaded = skmtrec.load(model.save(tmp_path / "model"))
    params = {k: v for k, v in model.get_params().items() if k != "architecture"}
    assert {k: v for k, v in loaded.get_params().items() if k != "architecture"} == params
    assert isinstance(loaded.architecture, PLE)
    with pytest.raises(Exception, match="not fitted"):
        check_is_fitted(loaded)


def test_a_loaded_model_fits_again(fitted, data, tmp_path):
    X, y = data
    loaded = skmtrec.load(fitted.save(tmp_path / "model"))
    refitted = loaded.fit(X, y)
    np.testing.assert_array_equal(refitted.predict(X), fitted.predict(X))


def test_a_model_saved_for_a_gpu_loads_onto_the_cpu(fitted, data, tmp_path):
    """The saved `device` is used where it exists, the CPU elsewhere or when asked."""
    X, _ = data
    folder = fitted.save(tmp_path / "model")
    manifest = json.loads((folder / "estimator.json").read_text())
    manifest["estimator"]["state"]["params"]["device"] = "cuda"
    (folder / "estimator.json").write_text(json.dumps(manifest))
    on_cpu = skmtrec.load(folder, device="cpu")
    assert on_cpu.device == "cpu"
    np.testing.assert_array_equal(on_cpu.predict(X), fitted.predict(X))
    if not torch.cuda.is_available():
        assert skmtrec.load(folder).device == "cpu"


def test_a_text_pipeline_saves_and_loads_without_pickle(tmp_path):
    X, y = make_interactions(n_users=40, n_items=30, n_interactions=800, random_state=0)
    X = X.rename(columns={"item_text": "title"})
    features = ColumnTransformer(
        [("title", SentenceEmbedder(), ["title"]), ("age", StandardScaler(), ["user_age"])],
        remainder="passthrough",
        verbose_feature_names_out=False,
    ).set_output(transform="pandas")
    model = MultiTaskRecommender({"rating": "regression"}, max_epochs=2, random_state=0)
    pipeline = Pipeline([("features", features), ("model", model)]).fit(X, y[["rating"]])
    folder = skmtrec.save(pipeline, tmp_path / "pipeline")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pickle, "loads", pickle_refused)
        patch.setattr(pickle, "Unpickler", pickle_refused)
        loaded = skmtrec.load(folder)
    assert isinstance(loaded, Pipeline)
    np.testing.assert_array_equal(loaded.predict(X), pipeline.predict(X))
    new_item = X.head(3).assign(item_id=10_000, title="a brand new item")
    np.testing.assert_array_equal(loaded.predict(new_item), pipeline.predict(new_item))


def pickle_refused(*args, **kwargs):
    raise AssertionError("pickle was used")


def test_a_sentence_embedder_saves_its_parameters(tmp_path):
    embedder = SentenceEmbedder(batch_size=8, normalize_embeddings=True).fit([["a text"]])
    loaded = skmtrec.load(embedder.save(tmp_path / "embedder"))
    assert loaded.get_params() == embedder.get_params()
    texts = [["a text"], ["another one"]]
    np.testing.assert_array_equal(loaded.transform(texts), embedder.transform(texts))


# -- what cannot be saved, and files that were damaged ------------------------------------------


def test_callbacks_are_refused_by_name(data, tmp_path):
    X, y = data
    model = MultiTaskRecommender({"rating": "regression"}, callbacks=[EpochTimer()], max_epochs=1)
    model.fit(X, y[["rating"]])
    with pytest.raises(TypeError, match="`callbacks`"):
        model.save(tmp_path / "model")
    # without them it saves, and nothing fitted was lost
    model.set_params(callbacks=None).save(tmp_path / "model")
    check_is_fitted(model)


def test_an_object_of_another_library_is_refused_with_its_place(tmp_path):
    pipeline = Pipeline([("log", FunctionTransformer(np.vectorize(abs))), ("s", StandardScaler())])
    with pytest.raises(TypeError, match=r"steps.*\[0\].*'func'.*numpy.*cannot save safely"):
        skmtrec.save(pipeline, tmp_path / "pipeline")
    pipeline.set_params(log=FunctionTransformer(lambda x: x))
    with pytest.raises(TypeError, match=r"steps.*\[0\].*'func'.*function.*cannot save safely"):
        skmtrec.save(pipeline, tmp_path / "pipeline")
    assert not (tmp_path / "pipeline").exists()  # nothing half-written is left


def test_a_folder_that_is_not_a_model_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"estimator\.json is missing"):
        skmtrec.load(tmp_path)


@pytest.mark.parametrize("name", sorted(n for n in _trusted.CLASSES if n.startswith("sklearn.")))
def test_each_trusted_scikit_learn_class_round_trips(name, tmp_path):
    """What skmtrec.load lists it can load, skmtrec.save can save, fitted, inside a Pipeline."""
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=40), "b": rng.gamma(2.0, size=40)})
    cls = _trusted.resolve_class(name)
    arguments = {
        "sklearn.pipeline.Pipeline": lambda: [[("s", StandardScaler())]],
        "sklearn.pipeline.FeatureUnion": lambda: [[("s", StandardScaler())]],
        "sklearn.compose.ColumnTransformer": lambda: [[("s", StandardScaler(), ["a"])]],
        "sklearn.preprocessing.FunctionTransformer": lambda: [np.log1p],
        "sklearn.decomposition.TruncatedSVD": lambda: [1],
    }.get(name, list)()
    if name.endswith(("OneHotEncoder", "OrdinalEncoder")):
        X = X.round().astype(int)
    if name.endswith(("SimpleImputer", "MissingIndicator")):
        X.iloc[::5, 0] = np.nan
    step = cls(*arguments)
    pipeline = Pipeline([("step", step)]).fit(X)
    loaded = skmtrec.load(skmtrec.save(pipeline, tmp_path / "model"))
    assert type(loaded.named_steps["step"]) is cls
    loaded, pipeline = loaded.transform(X), pipeline.transform(X)
    dense = [out.toarray() if hasattr(out, "toarray") else out for out in (loaded, pipeline)]
    np.testing.assert_array_equal(*dense)


def test_load_lists_every_class_it_loads():
    """The list in load's docstring is the registry's, not a copy that drifts from it."""
    doc = " ".join(skmtrec.load.__doc__.split())
    for name in _trusted.CLASSES:
        assert f"``{name.rpartition('.')[2]}``" in doc, name
