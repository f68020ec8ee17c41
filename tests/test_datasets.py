"""Data sets: the MovieLens 100K reader and the synthetic generator."""

import functools
import hashlib
import io
import threading
import zipfile
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pandas as pd
import pytest

from skmtrec import MultiTaskRecommender
from skmtrec.datasets import (
    GENRES,
    _movielens,
    get_data_home,
    load_movielens_100k,
    make_interactions,
)


def test_movielens_tables_and_features(movielens):
    ratings = movielens.ratings
    assert ratings.shape[0] == 100_000
    assert ratings["user_id"].nunique() == 943 and ratings["item_id"].nunique() == 1682
    assert set(ratings["rating"].unique()) == {1, 2, 3, 4, 5}
    for column in ("age", "gender", "occupation", "zip_code", "title", "year", *GENRES):
        assert column in ratings and ratings[column].notna().mean() > 0.99, column
    toy_story = movielens.movies.set_index("item_id").loc[1]
    assert toy_story["title"] == "Toy Story" and toy_story["year"] == 1995
    assert toy_story[["Animation", "Children's", "Comedy"]].tolist() == [True, True, True]
    assert not toy_story["Drama"]
    assert movielens.users.set_index("user_id").loc[1, "occupation"] == "technician"
    # the genre flags are booleans, so a model embeds them as categories (the benchmarks' coding)
    for table in (ratings, movielens.movies, movielens.train, movielens.test):
        assert all(map(pd.api.types.is_bool_dtype, table[list(GENRES)].dtypes))


def test_movielens_official_split(movielens):
    assert movielens.train.shape[0] == 80_000 and movielens.test.shape[0] == 20_000
    # u1.test is rows 1..20000 of u.data, sorted by user and item
    expected = movielens.ratings.iloc[:20_000].sort_values(["user_id", "item_id"])
    np.testing.assert_array_equal(movielens.test["rating"], expected["rating"])
    assert list(movielens.train.columns) == list(movielens.ratings.columns)


def test_documented_shapes(movielens):
    # the docstring's shapes: 30 columns in each table of ratings
    assert movielens.ratings.shape == (100_000, 30)
    assert (movielens.train.shape, movielens.test.shape) == ((80_000, 30), (20_000, 30))
    assert movielens.users.shape == (943, 5) and movielens.movies.shape == (1682, 23)


def test_return_X_y_gives_the_benchmarks_features_and_rating(movielens):
    X, y = load_movielens_100k(return_X_y=True, download_if_missing=False)
    assert X.shape == (100_000, 24) and y.shape == (100_000, 1)
    assert (
        list(X.columns)
        == movielens.feature_names
        == ["user_id", "item_id", "age", "gender", "occupation", *GENRES]
    )
    assert list(y.columns) == movielens.target_names == ["rating"]
    pd.testing.assert_frame_equal(y, movielens.ratings[["rating"]])
    # fittable as it is: no NaN (year is left out) and the flags are booleans
    assert not X.isna().any().any() and "year" not in X
    assert all(map(pd.api.types.is_bool_dtype, X[list(GENRES)].dtypes))


def test_return_X_y_with_a_fold_splits_as_train_test_split(movielens):
    X_train, X_test, y_train, y_test = load_movielens_100k(
        fold=1, return_X_y=True, download_if_missing=False
    )
    assert X_train.shape == (80_000, 24) and X_test.shape == (20_000, 24)
    assert y_train.shape == (80_000, 1) and y_test.shape == (20_000, 1)
    pd.testing.assert_frame_equal(X_test, movielens.test[movielens.feature_names])
    pd.testing.assert_frame_equal(y_train, movielens.train[["rating"]])


def test_the_loaders_X_y_fit_as_they_are(movielens):
    X_train, _, y_train, _ = load_movielens_100k(fold=1, return_X_y=True, download_if_missing=False)
    model = MultiTaskRecommender(
        {"rating": "regression", "interacted": "implicit"}, max_epochs=1, random_state=0
    )
    model.fit(X_train.iloc[:2000], y_train.iloc[:2000])
    features = model.network_spec_["features"]
    assert features["numeric"] == ["age"]  # the genre flags are embedded, not scaled
    assert set(GENRES) <= set(features["categorical"]) and model.item_features_ == list(GENRES)
    assert np.isfinite(model.predict_tasks(X_train.iloc[:50])["rating"]).all()


def test_data_home_from_argument_env_and_default(monkeypatch, tmp_path):
    monkeypatch.setenv("SKMTREC_DATA", str(tmp_path / "env"))
    assert get_data_home(tmp_path / "arg") == tmp_path / "arg"
    assert get_data_home() == tmp_path / "env"
    monkeypatch.delenv("SKMTREC_DATA")
    assert get_data_home().name == "skmtrec_data"


def test_missing_files_without_download_say_where_to_put_them(tmp_path):
    with pytest.raises(OSError, match=r"not in .*ml-100k .*SKMTREC_DATA"):
        load_movielens_100k(tmp_path, download_if_missing=False)
    with pytest.raises(ValueError, match="fold must be one of"):
        load_movielens_100k(tmp_path, fold=6)


@pytest.fixture
def file_server(tmp_path):
    """An HTTP server on 127.0.0.1 serving ``tmp_path / "served"``; yields its URL and the
    paths it was asked for."""
    served = tmp_path / "served"
    served.mkdir()
    asked = []

    class Handler(SimpleHTTPRequestHandler):
        def log_request(self, code="-", size="-"):
            asked.append(self.path)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(served))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", served, asked
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_failed_download_says_where_to_put_the_files(tmp_path, monkeypatch, file_server):
    url, _, asked = file_server
    monkeypatch.setattr(_movielens, "ML_100K_URL", f"{url}/absent.zip")
    with pytest.raises(OSError, match=r"could not be downloaded\. Download .*unzip it.*404"):
        load_movielens_100k(tmp_path / "home")
    assert asked == ["/absent.zip"]


def _zip_of(folder) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for path in folder.iterdir():
            zf.write(path, f"ml-100k/{path.name}")
    return buffer.getvalue()


def test_download_checks_the_checksum_then_extracts(movielens, tmp_path, monkeypatch, file_server):
    url, served, asked = file_server
    archive = served / "ml-100k.zip"
    archive.write_bytes(_zip_of(get_data_home() / "ml-100k"))
    monkeypatch.setattr(_movielens, "ML_100K_URL", f"{url}/ml-100k.zip")
    home = tmp_path / "home"
    with pytest.raises(OSError, match=r"does not have the published MD5 0e33842e.*not used"):
        load_movielens_100k(home)
    assert not (home / "ml-100k").exists() and not (home / "ml-100k.zip").exists()
    monkeypatch.setattr(_movielens, "ML_100K_MD5", hashlib.md5(archive.read_bytes()).hexdigest())
    data = load_movielens_100k(home, fold=2)
    assert (home / "ml-100k" / "u.data").is_file()
    pd.testing.assert_frame_equal(data.ratings, movielens.ratings)
    assert asked == ["/ml-100k.zip"] * 2

    # files present: no network call at all, even with the server gone
    monkeypatch.setattr(_movielens, "ML_100K_URL", "http://127.0.0.1:9/unreachable.zip")
    load_movielens_100k(home)
    assert len(asked) == 2
    # an extraction cut short is redone from the kept archive, without a download
    (home / "ml-100k" / "u3.test").unlink()
    load_movielens_100k(home, fold=3)
    assert (home / "ml-100k" / "u3.test").is_file() and len(asked) == 2


def test_make_interactions_structure():
    X, y = make_interactions(n_users=200, n_items=80, n_interactions=20_000, random_state=0)
    assert list(X.columns) == ["user_id", "item_id", "user_age", "user_segment", "item_text"]
    assert list(y.columns) == ["rating", "like", "category"]
    assert set(y["rating"].unique()) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    assert y["like"].isna().mean() == pytest.approx(0.3, abs=0.02)
    assert y["category"].isna().mean() == pytest.approx(0.5, abs=0.02)
    present = y["like"].notna()
    np.testing.assert_array_equal(y.loc[present, "like"], y.loc[present, "rating"] >= 4)
    # an item has one text; its category is drawn per row from its topic mix, so the item's
    # most frequent category is the best guess but not always right (measured: 55% of its rows)
    per_item = pd.concat([X, y], axis=1).groupby("item_id")
    assert (per_item["item_text"].nunique() == 1).all()
    assert (per_item["category"].nunique() > 1).mean() > 0.9
    shares = per_item["category"].agg(lambda s: s.value_counts(normalize=True).iloc[0])
    assert 0.4 < shares.mean() < 0.75
    # the text is drawn from the topic words of the item's dominant category
    row = pd.concat([X, y], axis=1).dropna(subset=["category"]).iloc[0]
    assert isinstance(row["item_text"], str) and len(row["item_text"].split()) >= 8
    # users are skewed: the most active user has several times the mean activity
    counts = X["user_id"].value_counts()
    assert counts.iloc[0] > 3 * counts.mean()


def test_make_interactions_is_deterministic_and_never_builds_a_user_item_matrix():
    a = make_interactions(n_interactions=500, random_state=3)
    b = make_interactions(n_interactions=500, random_state=3)
    pd.testing.assert_frame_equal(a[0], b[0])
    pd.testing.assert_frame_equal(a[1], b[1])
    # 10^6 x 10^6 pairs would need terabytes as a matrix
    X, _ = make_interactions(
        n_users=1_000_000, n_items=1_000_000, n_interactions=2_000, random_state=0
    )
    assert len(X) == 2_000 and X["user_id"].max() < 1_000_000


def test_make_interactions_rejects_bad_sizes():
    with pytest.raises(ValueError, match="n_topics must be in"):
        make_interactions(n_topics=9)
    with pytest.raises(ValueError, match="n_items must be >= 1"):
        make_interactions(n_items=0)
