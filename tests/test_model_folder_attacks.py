"""A model folder is data, never code: tampered, truncated, swapped and half-written folders.

Each case alters a folder ``skmtrec.save`` wrote and expects either the model as it was saved
or a ValueError (FileNotFoundError for a missing file) naming the file and the field at fault.
Where a digest would catch the change first, a second variant rewrites the digests that
``estimator.json`` records, so that the deeper checks are reached too.
"""

import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import textwrap
import threading
import zipfile

import numpy as np
import pandas as pd
import pytest
from safetensors.torch import load_file, save_file
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler

import skmtrec
from skmtrec import MultiTaskRecommender
from skmtrec.datasets import make_interactions

from .conftest import dataset, fitted_model

TASKS = {"rating": "regression", "like": "binary", "seen": "implicit"}


@pytest.fixture(scope="module")
def data():
    X, y = dataset("small")
    return X, y[["rating", "like"]]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A fitted model's folder, never altered: each test alters a copy."""
    model = fitted_model("small", tasks=TASKS, max_epochs=2, random_state=0)
    return model, model.save(tmp_path_factory.mktemp("saved") / "model")


@pytest.fixture
def folder(saved, tmp_path):
    return shutil.copytree(saved[1], tmp_path / "model")


def read(folder):
    return json.loads((folder / "estimator.json").read_text())


def write(folder, manifest):
    (folder / "estimator.json").write_text(json.dumps(manifest))


def redigest(folder):
    """Record the side files' present sizes and digests, as if the change had been saved."""
    manifest = read(folder)
    for name in manifest["files"]:
        data = (folder / name).read_bytes()
        manifest["files"][name] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    write(folder, manifest)


def fitted_state(manifest):
    return manifest["estimator"]["state"]["fitted"]


def assert_refused(folder, *patterns, error=ValueError):
    with pytest.raises(error) as info:
        skmtrec.load(folder)
    for pattern in patterns:
        assert pattern in str(info.value), str(info.value)
    return str(info.value)


# -- T1: a file names code ------------------------------------------------------------------------

CODE = [
    "numpy.f2py.subprocess.Popen",
    "sklearn.externals.array_api_compat.numpy.f2py.subprocess.Popen",
    "sklearn.externals.array_api_compat.torch.ctypes.CDLL",
    "ctypes.CDLL",
    "skmtrec._recommender.partial",
    "functools.partial",
    "skmtrec._training.net.EarlyStopping",
    "skorch.callbacks.EpochTimer",
    "subprocess.Popen",
    "os.system",
    "builtins.eval",
    "builtins.getattr",
    "numpy.load",
    "sklearn.utils.Bunch",  # a scikit-learn class, but not one skmtrec saves
    "sklearn.preprocessing._data.StandardScaler",  # the defining module: not the public path
]


@pytest.fixture(scope="module")
def pipeline_folder(tmp_path_factory):
    pipeline = Pipeline([("f", FunctionTransformer()), ("s", StandardScaler())])
    pipeline.fit(pd.DataFrame({"a": [1.0, 2.0, 3.0]}))
    return skmtrec.save(pipeline, tmp_path_factory.mktemp("pipe") / "pipeline")


def popen_pipeline(pipeline_folder, tmp_path, tag, name):
    """The review's Pipeline whose FunctionTransformer would start bash, writing a canary."""
    folder = shutil.copytree(pipeline_folder, tmp_path / "evil")
    manifest = read(folder)
    step = manifest["estimator"]["state"]["steps"][0]["__tuple__"][1]["state"]
    step["func"] = {"__type__": name} if tag == "__type__" else {tag: name}
    if tag == "__object__":
        step["func"]["state"] = {"args": "true"}
    canary = tmp_path / "PWNED"
    step["kw_args"] = {"executable": "/bin/bash", "env": {"BASH_ENV": f"$(touch {canary})"}}
    write(folder, manifest)
    return folder, canary


@pytest.mark.parametrize("tag", ["__type__", "__object__", "__function__"])
@pytest.mark.parametrize("name", CODE)
def test_a_name_off_the_trusted_lists_is_refused_before_anything_is_built(
    pipeline_folder, tmp_path, tag, name
):
    folder, canary = popen_pipeline(pipeline_folder, tmp_path, tag, name)
    message = assert_refused(folder, "estimator.json", repr(name), "steps[0][1].state.func")
    assert "never loads" in message
    assert not canary.exists()


def test_every_untrusted_name_is_listed_at_once(folder):
    manifest = read(folder)
    manifest["estimator"]["state"]["params"]["callbacks"] = [
        {"__type__": "skorch.callbacks.EpochTimer"},
        {"__object__": "numpy.load", "state": {}},
    ]
    write(folder, manifest)
    assert_refused(folder, "'skorch.callbacks.EpochTimer'", "'numpy.load'", "params.callbacks[1]")


def test_the_command_line_runs_nothing_from_a_tampered_folder(pipeline_folder, tmp_path):
    folder, canary = popen_pipeline(pipeline_folder, tmp_path, "__type__", CODE[0])
    pd.DataFrame({"a": [1.0]}).to_csv(tmp_path / "test.csv", index=False)
    done = subprocess.run(
        [sys.executable, "-m", "skmtrec", "evaluate", str(folder), str(tmp_path / "test.csv")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2
    assert "estimator.json" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not canary.exists()


def test_callbacks_in_the_parameters_are_refused(folder):
    manifest = read(folder)
    manifest["estimator"]["state"]["params"]["callbacks"] = []
    write(folder, manifest)
    assert_refused(folder, "estimator.json", "callbacks must be None")


@pytest.mark.parametrize(
    ("key", "value", "named"),
    [
        ("memory", "cache", "`memory` is"),  # a Pipeline's cache is unpickled on fit
        ("_parameter_constraints", {}, "['_parameter_constraints'], which are not attributes"),
        ("predict", {"__function__": "numpy.exp"}, "['predict'], which are not attributes"),
        ("__class__", None, "estimator.state is a malformed entry"),
    ],
)
def test_a_pipeline_state_that_reaches_past_the_model_is_refused(
    pipeline_folder, tmp_path, key, value, named
):
    folder = shutil.copytree(pipeline_folder, tmp_path / "memory")
    manifest = read(folder)
    manifest["estimator"]["state"][key] = value
    write(folder, manifest)
    assert_refused(folder, "estimator.json", named)


def test_a_pipeline_that_caches_or_asks_for_many_jobs_is_refused_at_save_and_load(tmp_path):
    from sklearn.compose import ColumnTransformer

    X = pd.DataFrame({"a": [1.0, 2.0, 3.0]})
    cached = Pipeline([("s", StandardScaler())], memory=str(tmp_path / "cache")).fit(X)
    with pytest.raises(TypeError, match=r"`memory` is .* cache is unpickled"):
        skmtrec.save(cached, tmp_path / "cached")
    columns = ColumnTransformer([("s", StandardScaler(), ["a"])], n_jobs=2).fit(X)
    folder = skmtrec.save(columns, tmp_path / "columns")
    manifest = read(folder)
    manifest["estimator"]["state"]["n_jobs"] = 10**6
    write(folder, manifest)
    assert_refused(folder, "estimator.json", "`n_jobs` is 1000000")


def test_a_model_file_may_not_ask_for_a_million_threads(folder):
    """``n_threads`` is the process's torch setting on every call: a model file's is bounded
    as a Pipeline's ``n_jobs`` is."""
    manifest = read(folder)
    manifest["estimator"]["state"]["params"]["n_threads"] = 10**6
    write(folder, manifest)
    assert_refused(folder, "estimator.json", "`n_threads` is 1000000")


def test_a_spec_of_a_huge_network_is_refused_before_it_is_built(folder):
    """The network a spec describes is compared with the weights file before it is built: a
    spec of 10^12 units allocates nothing (it used to take 10 GB at 3 * 10^6)."""
    manifest = read(folder)
    fitted_state(manifest)["network_spec_"]["head"]["expert_units"] = [10**12]
    write(folder, manifest)
    assert_refused(folder, "weights.safetensors", "where this model's network has")


def test_a_requested_device_is_checked(folder):
    with pytest.raises(ValueError, match="`device` must be a torch device"):
        skmtrec.load(folder, device="nonsense")


def test_an_embedder_names_no_cache_folder_in_its_file(tmp_path):
    from skmtrec import SentenceEmbedder

    embedder = SentenceEmbedder(cache_dir=tmp_path / "cache")
    folder = embedder.save(tmp_path / "embedder")
    assert skmtrec.load(folder).cache_dir is None  # the machine's, not the model's
    manifest = read(folder)
    manifest["estimator"]["state"]["cache_dir"] = str(tmp_path / "elsewhere")
    write(folder, manifest)
    assert_refused(folder, "estimator.json", "cache_dir must be None")
    assert not (tmp_path / "elsewhere").exists()


# -- T2: an interrupted save, a file of another save --------------------------------------------


@pytest.fixture(scope="module")
def other(data):
    """A model fitted on other rows of the same size: vocabularies of the same lengths."""
    X, y = make_interactions(n_users=60, n_items=40, n_interactions=1500, random_state=1)
    return MultiTaskRecommender(TASKS, max_epochs=2, random_state=1).fit(
        X.drop(columns="item_text"), y[["rating", "like"]]
    )


@pytest.mark.parametrize(
    "step",
    [
        "numpy.savez",
        "skmtrec._training.net.MultiTaskNet.save_params",
        "skmtrec._persistence.model_folder._fsync",
    ],
)
def test_an_interrupted_save_leaves_the_old_model(saved, other, data, folder, monkeypatch, step):
    model, _ = saved

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(step, interrupt)
    with pytest.raises(KeyboardInterrupt):
        other.save(folder)
    monkeypatch.undo()
    X, _ = data
    np.testing.assert_array_equal(skmtrec.load(folder).predict(X), model.predict(X))
    assert sorted(p.name for p in folder.parent.iterdir()) == ["model"]  # no staging left


def test_without_an_atomic_exchange_an_interrupted_swap_puts_the_old_model_back(
    saved, other, data, folder, monkeypatch
):
    """Where the system has no exchange, the old model is moved aside, then the new one in: an
    interrupt between the two moves puts the old one back."""
    model, _ = saved
    renames = []

    def rename(source, target):
        renames.append(source)
        if len(renames) == 3:  # the new folder into place, after a try and the move aside
            raise KeyboardInterrupt
        os.replace(source, target)

    monkeypatch.setattr("skmtrec._persistence.model_folder._exchange", lambda a, b: False)
    monkeypatch.setattr("skmtrec._persistence.model_folder.os.rename", rename)
    with pytest.raises(KeyboardInterrupt):
        other.save(folder)
    monkeypatch.undo()
    X, _ = data
    np.testing.assert_array_equal(skmtrec.load(folder).predict(X), model.predict(X))
    assert sorted(p.name for p in folder.parent.iterdir()) == ["model"]
    # a process killed between the two moves leaves the old model aside: load says where
    aside = shutil.move(folder, folder.with_name(".model.replaced-0123abcd"))
    assert_refused(folder, str(aside), "rename that folder back", error=FileNotFoundError)
    shutil.move(aside, folder)
    monkeypatch.setattr("skmtrec._persistence.model_folder._exchange", lambda a, b: False)
    other.save(folder)  # and without an interrupt, the new model takes its place
    np.testing.assert_array_equal(skmtrec.load(folder).predict(X), other.predict(X))
    assert sorted(p.name for p in folder.parent.iterdir()) == ["model"]


def test_a_save_killed_before_its_last_step_leaves_the_old_model(saved, data, folder, tmp_path):
    """SIGKILL while the new model is written whole but not yet in place."""
    model, _ = saved
    script = textwrap.dedent(
        f"""
        import sys, time
        import skmtrec._persistence.model_folder as mf
        from skmtrec import MultiTaskRecommender
        from skmtrec.datasets import make_interactions
        X, y = make_interactions(n_users=60, n_items=40, n_interactions=1500, random_state=1)
        b = MultiTaskRecommender({TASKS!r}, max_epochs=1, random_state=1)
        b.fit(X.drop(columns="item_text"), y[["rating", "like"]])
        def stall(staging, target):
            print("written", flush=True)
            time.sleep(600)
        mf._put_in_place = stall
        b.save({str(folder)!r})
        """
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "written"
    finally:
        child.kill()
        child.wait()
    X, _ = data
    np.testing.assert_array_equal(skmtrec.load(folder).predict(X), model.predict(X))


@pytest.mark.parametrize("name", ["weights.safetensors", "arrays.npz", "history.json"])
def test_a_file_of_another_save_is_named(other, folder, tmp_path, name):
    other_folder = other.save(tmp_path / "other")
    shutil.copy(other_folder / name, folder / name)
    assert_refused(folder, name, "another save")


def test_a_save_replaces_a_model_but_never_other_files(saved, data, tmp_path):
    model, _ = saved
    X, _ = data
    target = tmp_path / "target"
    target.mkdir()
    (target / "history.json").write_text("my own notes")
    with pytest.raises(ValueError, match=r"is not a skmtrec model \(it holds history.json,"):
        model.save(target)
    assert (target / "history.json").read_text() == "my own notes"
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="is not a folder"):
        model.save(tmp_path / "file")
    # an empty folder, then a model of its own, are replaced
    empty = tmp_path / "empty"
    empty.mkdir()
    model.save(empty)
    model.save(empty)
    np.testing.assert_array_equal(skmtrec.load(empty).predict(X), model.predict(X))


# -- T4, T5: weights ------------------------------------------------------------------------------


def put_weights(folder, tensors):
    save_file(tensors, folder / "weights.safetensors")
    redigest(folder)


@pytest.mark.parametrize(
    "damage",
    [
        lambda b: b[: len(b) // 2],
        lambda b: os.urandom(len(b)),
        lambda b: struct.pack("<Q", 2**62) + b[8:],
        lambda b: (
            struct.pack("<Q", 60)
            + b'{"w":{"dtype":"F32","shape":[2147483648,2147483648],"data_offsets":[0,16]}}'[:60]
            + bytes(16)
        ),
    ],
    ids=["truncated", "random", "header-2**62", "tensor-2**31-squared"],
)
@pytest.mark.parametrize("digests", ["recorded", "rewritten"])
def test_damaged_weights_are_named(folder, damage, digests):
    path = folder / "weights.safetensors"
    path.write_bytes(damage(path.read_bytes()))
    if digests == "rewritten":
        redigest(folder)
    assert_refused(folder, "weights.safetensors")


def test_a_weight_of_another_dtype_is_named(folder):
    tensors = load_file(folder / "weights.safetensors")
    name = next(k for k in tensors if k.endswith("embedding.weight"))
    tensors[name] = tensors[name].to(dtype=__import__("torch").int32)
    put_weights(folder, tensors)
    assert_refused(folder, "weights.safetensors", name, "torch.int32")


def test_weights_of_the_wrong_shape_are_named(folder):
    tensors = load_file(folder / "weights.safetensors")
    name = next(k for k in tensors if k.endswith("embedding.weight"))
    tensors[name] = tensors[name][:-1]
    put_weights(folder, tensors)
    assert_refused(folder, "weights.safetensors", name, "shape")


def test_nan_weights_are_named(folder):
    tensors = load_file(folder / "weights.safetensors")
    name = next(iter(tensors))
    tensors[name] = tensors[name] * float("nan")
    put_weights(folder, tensors)
    assert_refused(folder, "weights.safetensors", "NaN")


def test_a_missing_weights_file_is_named(folder):
    (folder / "weights.safetensors").unlink()
    assert_refused(folder, "weights.safetensors is missing", error=FileNotFoundError)


# -- T5, T12: estimator.json ----------------------------------------------------------------------


def vocabulary(manifest):
    return fitted_state(manifest)["encoder"]["user_codes"]["values"]


def test_a_shorter_vocabulary_is_refused(folder):
    """The review's T5: the user ids replaced by their first five."""
    manifest = read(folder)
    values = vocabulary(manifest)["__index__"]
    key = values["__array__"]
    with np.load(folder / "arrays.npz") as stored:
        arrays = dict(stored)
    arrays[key] = arrays[key][:5]
    np.savez(folder / "arrays.npz", **arrays)
    redigest(folder)
    assert_refused(folder, "estimator.json", "n_users = 5", "network_spec_ has 60")


def test_a_vocabulary_with_repeated_ids_is_refused(folder):
    manifest = read(folder)
    manifest["estimator"]["state"]["fitted"]["encoder"]["user_codes"]["values"] = {
        "__index__": {"__objects__": ["a", "a"], "shape": [2]},
        "dtype": "object",
        "name": None,
    }
    write(folder, manifest)
    assert_refused(folder, "estimator.json", "user_codes.values must be an index of distinct")


def set_in(manifest, path, value):
    node = manifest["estimator"]["state"]
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


@pytest.mark.parametrize(
    ("path", "value", "named"),
    [
        (["params", "lr"], "fast", "'lr'"),
        (["params", "max_epochs"], -5, "'max_epochs'"),
        (["params", "lr"], {"__scalar__": "|O", "value": 1}, "dtype"),
        (["params", "device"], {"__scalar__": "(1000000000,)f8", "value": 1}, "dtype"),
        (["params", "unknown"], 1, "unknown entries ['unknown']"),
        (["params", "tasks"], {**TASKS, "rating": "binary"}, "are not the fitted tasks"),
        (["params", "tasks"], {**TASKS, "rating": "nonsense"}, "unknown kind 'nonsense'"),
        (["fitted", "encoder", "user_codes", "family"], "strings", "not that of its values"),
        (["fitted", "network_spec_", "head", "architecture"], "nope", "head.architecture"),
        (["fitted", "network_spec_", "balancing", "method"], "nope", "balancing.method"),
        (["fitted", "network_spec_", "inputs", "embedding_dim"], "x", "inputs.embedding_dim"),
        (["fitted", "network_spec_", "inputs", "history_sample"], -3, "history_sample"),
        (["fitted", "network_spec_", "tasks", 2, "similarity"], "l1", "similarity"),
        (["fitted", "network_spec_", "tasks", 2, "temperature"], 0.0, "temperature"),
        (["fitted", "network_spec_", "tasks"], ["rating"], "list of mappings"),
        (["params", "callbacks"], [{"__type__": []}], "type [] at"),
        (
            ["fitted", "tasks"],
            [["rating", "ranking"], ["like", "binary"], ["seen", "implicit"]],
            "kind",
        ),
        (["fitted", "task_states", 0, "scale"], -1.0, "scale"),
        (["fitted", "task_states", 1, "classes"], None, "classes"),
        (["fitted", "network_spec_", "version"], 99, "version 99"),
        (["fitted", "encoder", "mean"], {"__objects__": [1.0], "shape": [10**12]}, "shape"),
        (["fitted", "n_features_in_"], "many", "n_features_in_"),
        (
            ["fitted", "histories", "user", "indptr"],
            {"__objects__": [], "shape": [0]},
            "histories.user",
        ),
        (["fitted", "weights"], "../weights.safetensors", "not a file of its folder"),
        (["fitted", "weights"], "/etc/passwd", "not a file of its folder"),
        (["fitted", "history"], "arrays.npz", "arrays.npz is not valid JSON"),
        (["fitted", "weights"], "other.safetensors", "records no size"),
    ],
)
def test_tampered_fields_are_named(folder, path, value, named):
    manifest = read(folder)
    set_in(manifest, path, value)
    write(folder, manifest)
    assert_refused(folder, named)


def test_a_two_dimensional_seen_indptr_is_named(folder):
    manifest = read(folder)
    key = fitted_state(manifest)["catalog"]["seen_indptr"]["__array__"]
    with np.load(folder / "arrays.npz") as stored:
        arrays = dict(stored)
    arrays[key] = arrays[key][:, None]
    np.savez(folder / "arrays.npz", **arrays)
    redigest(folder)
    assert_refused(folder, "estimator.json", "catalog.seen indptr")


def test_json_nested_too_deeply_is_named(folder):
    text = (folder / "estimator.json").read_text()
    (folder / "estimator.json").write_text(
        text[:-1] + ', "x": ' + "[" * 100_000 + "]" * 100_000 + "}"
    )
    assert_refused(folder, "estimator.json", "nested too deeply")


def test_a_truncated_history_is_blamed_on_the_history(folder):
    path = folder / "history.json"
    path.write_bytes(path.read_bytes()[:-10])
    redigest(folder)
    assert_refused(folder, "history.json", "not valid JSON")


def test_an_unknown_format_version_is_named(folder):
    manifest = read(folder)
    manifest["format_version"] = 99
    write(folder, manifest)
    assert_refused(folder, "estimator.json has format version 99")


def test_a_truncated_json_file_is_named(folder):
    text = (folder / "estimator.json").read_text()
    (folder / "estimator.json").write_text(text[: len(text) // 2])
    assert_refused(folder, "estimator.json is not valid JSON")


# -- T6: arrays.npz, and what a file is -----------------------------------------------------------


def loads_within(folder, seconds=60):
    """The exception ``skmtrec.load(folder)`` raises, or a failure if it blocks."""
    outcome = {}

    def target():
        try:
            skmtrec.load(folder)
        except Exception as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "load blocked"
    return outcome.get("error")


@pytest.mark.parametrize(
    "name", ["estimator.json", "arrays.npz", "weights.safetensors", "history.json"]
)
def test_a_folder_in_place_of_a_file_is_named(folder, name):
    (folder / name).unlink()
    (folder / name).mkdir()
    assert_refused(folder, f"{name} is not a regular file")


def test_a_device_that_holds_no_data_loads_onto_the_cpu(saved, data, folder):
    model, _ = saved
    manifest = read(folder)
    manifest["estimator"]["state"]["params"]["device"] = "meta"
    write(folder, manifest)
    loaded = skmtrec.load(folder)
    X, _ = data
    assert loaded.device == "cpu"
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_a_fifo_is_refused_without_blocking(folder):
    (folder / "arrays.npz").unlink()
    os.mkfifo(folder / "arrays.npz")
    error = loads_within(folder)
    assert isinstance(error, ValueError) and "arrays.npz is not a regular file" in str(error)


def npy_member(shape, dtype="<f8", payload=b"\0" * 8):
    header = repr({"descr": dtype, "fortran_order": False, "shape": shape}).encode()
    header += b" " * (63 - (len(header) + 10) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + payload


def test_an_array_header_its_bytes_cannot_hold_is_named(folder):
    manifest = read(folder)
    key = fitted_state(manifest)["encoder"]["mean"]["__array__"]
    with np.load(folder / "arrays.npz") as stored:
        arrays = dict(stored)
    np.savez(folder / "arrays.npz", **{k: v for k, v in arrays.items() if k != key})
    with zipfile.ZipFile(folder / "arrays.npz", "a") as archive:
        archive.writestr(f"{key}.npy", npy_member((2**40,)))
    redigest(folder)
    assert_refused(folder, "arrays.npz", repr(key), "(1099511627776,)")


def test_arrays_the_file_never_names_are_not_read(saved, data, folder):
    model, _ = saved
    with zipfile.ZipFile(folder / "arrays.npz", "a") as archive:
        archive.writestr("stray.npy", npy_member((2**40,)))
    redigest(folder)
    X, _ = data
    np.testing.assert_array_equal(skmtrec.load(folder).predict(X), model.predict(X))


def test_a_symlink_out_of_the_folder_is_refused(folder, tmp_path):
    outside = tmp_path / "outside.npz"
    shutil.move(folder / "arrays.npz", outside)
    (folder / "arrays.npz").symlink_to(outside)
    assert_refused(folder, "arrays.npz leads out of its folder")
    (folder / "arrays.npz").unlink()
    (folder / "arrays.npz").symlink_to("/dev/zero")
    assert_refused(folder, "arrays.npz")


def test_a_symlink_to_a_file_of_the_folder_is_followed(saved, data, folder):
    model, _ = saved
    shutil.move(folder / "arrays.npz", folder / "kept.npz")
    (folder / "arrays.npz").symlink_to("kept.npz")
    X, _ = data
    np.testing.assert_array_equal(skmtrec.load(folder).predict(X), model.predict(X))


def test_a_folder_of_format_version_1_still_loads(saved, data, folder):
    """Version 1 named classes by their defining module and recorded no digests."""
    model, _ = saved
    manifest = read(folder)
    manifest["format_version"] = 1
    del manifest["files"]
    manifest["estimator"]["__object__"] = "skmtrec._recommender.MultiTaskRecommender"
    write(folder, manifest)
    X, _ = data
    np.testing.assert_array_equal(skmtrec.load(folder).predict(X), model.predict(X))
    # the names of version 1 are the defining modules' only: a walk is still refused
    manifest["estimator"]["__object__"] = "skmtrec._recommender.partial"
    write(folder, manifest)
    assert_refused(folder, "'skmtrec._recommender.partial'")
