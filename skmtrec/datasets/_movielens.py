"""load_movielens_100k: MovieLens 100K in the GroupLens layout, with user and item features."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
from sklearn.utils import Bunch

ML_100K_URL = "https://files.grouplens.org/datasets/movielens/ml-100k.zip"
# The MD5 that GroupLens publishes beside the archive (ml-100k.zip.md5).
ML_100K_MD5 = "0e33842e24a9c977be4e0107933c0723"
DATA_HOME_ENV = "SKMTREC_DATA"
# seconds the download waits for the server to answer before it gives up
_DOWNLOAD_TIMEOUT_S = 60

GENRES = (
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)
# X and y of ``return_X_y=True``: the benchmarks' set-up. ``year`` (NaN for a few films),
# ``title``, ``zip_code`` and ``release_date`` are left to the user to code.
FEATURE_NAMES = ("user_id", "item_id", "age", "gender", "occupation", *GENRES)
TARGET_NAMES = ("rating",)
_FILES = (
    "u.data",
    "u.item",
    "u.user",
    *(f"u{k}.{part}" for k in range(1, 6) for part in ("base", "test")),
)


def get_data_home(data_home: str | os.PathLike | None = None) -> Path:
    """The folder that holds skmtrec's data sets.

    Parameters
    ----------
    data_home : str or path-like, default=None
        The folder. ``None`` takes the environment variable ``SKMTREC_DATA``, else
        ``~/skmtrec_data``.

    Returns
    -------
    data_home : Path
    """
    if data_home is None:
        data_home = os.environ.get(DATA_HOME_ENV) or Path.home() / "skmtrec_data"
    return Path(data_home).expanduser()


def load_movielens_100k(
    data_home: str | os.PathLike | None = None,
    *,
    fold: int | None = None,
    download_if_missing: bool = True,
    return_X_y: bool = False,
) -> Bunch | tuple[pd.DataFrame, ...]:
    """Load MovieLens 100K: 100,000 ratings of 1,682 movies by 943 users, with features.

    Reads the GroupLens layout (``u.data``, ``u.item``, ``u.user`` and the official splits
    ``u1..u5.base/.test``) from ``<data_home>/ml-100k``. When the files are missing it downloads
    the official archive and checks its MD5, unless ``download_if_missing=False``; when they are
    present it makes no network call.

    Parameters
    ----------
    data_home : str or path-like, default=None
        See :func:`get_data_home`: the argument, else ``$SKMTREC_DATA``, else ``~/skmtrec_data``.
    fold : {1, 2, 3, 4, 5}, default=None
        Also return the official split ``u{fold}.base`` / ``u{fold}.test`` as ``train`` and
        ``test``.
    download_if_missing : bool, default=True
        Download the archive when the files are missing.
    return_X_y : bool, default=False
        Return ``(X, y)`` ready to fit instead of the Bunch, coded as the benchmarks code them:
        ``X`` holds the columns ``feature_names`` (``user_id``, ``item_id``, ``age``,
        ``gender``, ``occupation`` and the 19 boolean genre flags, which become categorical
        embeddings) and ``y`` the column ``rating``. With ``fold``, ``X_train, X_test, y_train,
        y_test`` in the order of :func:`~sklearn.model_selection.train_test_split`.

    Returns
    -------
    data : Bunch
        ``ratings``: one row per rating with ``user_id``, ``item_id``, ``rating``, ``timestamp``
        and the user and item features: ``age`` (int), ``gender``, ``occupation``, ``zip_code``
        (str), ``title`` (str, the year removed), ``year`` (float, NaN when unknown),
        ``release_date`` and the 19 genre flags (bool, named as in ``GENRES``): 30 columns.
        ``users`` and ``movies``: the user and item feature tables (``movies`` is not named
        ``items``, which a Bunch, being a dict, already has). ``genres``: the genre flag names.
        ``feature_names`` and ``target_names``: the columns of ``X`` and ``y`` that
        ``return_X_y`` gives. With ``fold``: ``train`` and ``test``, rows of ``ratings`` in the
        official split.
    (X, y) : tuple of DataFrame
        With ``return_X_y=True`` and no ``fold``: ``X`` of shape (100000, 24) and ``y`` of
        shape (100000, 1).
    (X_train, X_test, y_train, y_test) : tuple of DataFrame
        With ``return_X_y=True`` and ``fold``: 80,000 rows to fit and 20,000 to test, 24
        columns in ``X`` and one in ``y``.

    Examples
    --------
    >>> from skmtrec.datasets import load_movielens_100k
    >>> data = load_movielens_100k(fold=1)  # doctest: +SKIP
    >>> data.train.shape, data.test.shape  # doctest: +SKIP
    ((80000, 30), (20000, 30))
    >>> X_train, X_test, y_train, y_test = load_movielens_100k(
    ...     fold=1, return_X_y=True
    ... )  # doctest: +SKIP
    >>> X_train.shape, y_train.columns.tolist()  # doctest: +SKIP
    ((80000, 24), ['rating'])
    """
    if fold is not None and fold not in range(1, 6):
        raise ValueError(f"fold must be one of 1, 2, 3, 4, 5 or None; got {fold!r}.")
    folder = get_data_home(data_home) / "ml-100k"
    missing = [name for name in _FILES if not (folder / name).is_file()]
    if missing:
        if not download_if_missing:
            raise OSError(_where_to_put(folder, missing))
        _download(folder)

    users = pd.read_csv(
        folder / "u.user",
        sep="|",
        encoding="latin-1",
        header=None,
        names=["user_id", "age", "gender", "occupation", "zip_code"],
        dtype={"zip_code": str},
    )
    items = _read_items(folder / "u.item")
    ratings = _join(_read_ratings(folder / "u.data"), users, items)
    data = Bunch(
        ratings=ratings,
        users=users,
        movies=items,
        genres=list(GENRES),
        feature_names=list(FEATURE_NAMES),
        target_names=list(TARGET_NAMES),
    )
    if fold is not None:
        data.train = _join(_read_ratings(folder / f"u{fold}.base"), users, items)
        data.test = _join(_read_ratings(folder / f"u{fold}.test"), users, items)
    if not return_X_y:
        return data
    if fold is None:
        return features_and_target(ratings)
    (X_train, y_train), (X_test, y_test) = map(features_and_target, (data.train, data.test))
    return X_train, X_test, y_train, y_test


def features_and_target(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``X`` and ``y`` of ``return_X_y`` from rows of one of the loader's tables."""
    return frame[list(FEATURE_NAMES)].copy(), frame[list(TARGET_NAMES)].copy()


def _read_ratings(path: Path) -> pd.DataFrame:
    return pd.read_csv(
        path, sep="\t", header=None, names=["user_id", "item_id", "rating", "timestamp"]
    )


def _read_items(path: Path) -> pd.DataFrame:
    names = ["item_id", "raw_title", "release_date", "video_release_date", "imdb_url", *GENRES]
    items = pd.read_csv(path, sep="|", encoding="latin-1", header=None, names=names)
    year = items["raw_title"].str.extract(r"\((\d{4})\)\s*$")[0]
    items["year"] = pd.to_numeric(year).astype(float)
    items["title"] = (
        items["raw_title"].str.replace(r"\s*\(\d{4}\)\s*$", "", regex=True).fillna("").str.strip()
    )
    # as booleans the flags are categories (embedded), not scaled numbers
    items[list(GENRES)] = items[list(GENRES)].astype(bool)
    return items[["item_id", "title", "year", "release_date", *GENRES]]


def _join(ratings: pd.DataFrame, users: pd.DataFrame, items: pd.DataFrame) -> pd.DataFrame:
    return ratings.merge(users, on="user_id", how="left").merge(items, on="item_id", how="left")


def _where_to_put(folder: Path, missing: list[str]) -> str:
    return (
        f"MovieLens 100K is not in {folder} (missing: {', '.join(missing)}) and could not be "
        f"downloaded. Download {ML_100K_URL}, unzip it so that {folder}/u.data exists, or point "
        f"`data_home` (or the environment variable {DATA_HOME_ENV}) at the folder that holds "
        "ml-100k/."
    )


def _download(folder: Path) -> None:
    """The official archive into ``folder``'s parent, checked against its MD5, then unzipped
    there (pooch keeps the archive, so a broken extraction is redone without a download)."""
    import pooch

    try:
        pooch.retrieve(
            ML_100K_URL,
            known_hash=f"md5:{ML_100K_MD5}",
            fname="ml-100k.zip",
            path=folder.parent,
            processor=pooch.Unzip(extract_dir="."),
            downloader=pooch.HTTPDownloader(timeout=_DOWNLOAD_TIMEOUT_S),
        )
    except ValueError as exc:  # pooch's answer to a checksum that does not match
        raise OSError(
            f"The archive from {ML_100K_URL} does not have the published MD5 {ML_100K_MD5} "
            f"({exc}); it was not used. " + _where_to_put(folder, ["the whole data set"])
        ) from exc
    except OSError as exc:  # requests' errors (no network, HTTP 404) are OSErrors
        raise OSError(_where_to_put(folder, ["the whole data set"]) + f" ({exc})") from exc
