"""Data sets: the MovieLens 100K reader and the synthetic generator."""

import hashlib
import io
import zipfile

import numpy as np
import pandas as pd
import pytest

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
    assert toy_story[["Animation", "Children's", "Comedy"]].tolist() == [1, 1, 1]
    assert movielens.users.set_index("user_id").loc[1, "occupation"] == "technician"


def test_movielens_official_split(movielens):
    assert movielens.train.shape[0] == 80_000 and movielens.test.shape[0] == 20_000
    # u1.test is rows 1..20000 of u.data, sorted by user and item
    expected = movielens.ratings.iloc[:20_000].sort_values(["user_id", "item_id"])
    np.testing.assert_array_equal(movielens.test["rating"], expected["rating"])
    assert list(movielens.train.columns) == list(movielens.ratings.columns)


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


def test_failed_download_says_where_to_put_the_files(tmp_path, monkeypatch):
    monkeypatch.setattr(_movielens, "ML_100K_URL", (tmp_path / "absent.zip").as_uri())
    with pytest.raises(OSError, match=r"could not be downloaded\. Download .*unzip it"):
        load_movielens_100k(tmp_path)


def _zip_of(folder) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for path in folder.iterdir():
            zf.write(path, f"ml-100k/{path.name}")
    return buffer.getvalue()


def test_download_checks_the_checksum_then_extracts(movielens, tmp_path, monkeypatch):
    source = get_data_home() / "ml-100k"
    archive = tmp_path / "ml-100k.zip"
    archive.write_bytes(_zip_of(source))
    monkeypatch.setattr(_movielens, "ML_100K_URL", archive.as_uri())
    with pytest.raises(OSError, match=r"has MD5 .* expected 0e33842e"):
        load_movielens_100k(tmp_path / "home")
    assert not (tmp_path / "home" / "ml-100k").exists()
    monkeypatch.setattr(_movielens, "ML_100K_MD5", hashlib.md5(archive.read_bytes()).hexdigest())
    data = load_movielens_100k(tmp_path / "home", fold=2)
    assert (tmp_path / "home" / "ml-100k" / "u.data").is_file()
    pd.testing.assert_frame_equal(data.ratings, movielens.ratings)


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
