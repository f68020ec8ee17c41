"""load_gowalla: Gowalla check-ins in the LightGCN split, as interaction tables."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.utils import Bunch

from ._movielens import DATA_HOME_ENV, get_data_home

_FILES = ("train.txt.gz", "test.txt.gz")


def load_gowalla(data_home: str | os.PathLike | None = None) -> Bunch:
    """Gowalla check-ins as implicit feedback, in the split LightGCN and BARS publish.

    Reads ``train.txt.gz`` and ``test.txt.gz`` (one line per user: ``user_id item_id
    item_id ...``, 0-based integers) from ``<data_home>/gowalla``. Nothing is downloaded:
    the split's files must be in place.

    Parameters
    ----------
    data_home : str or path-like, default=None
        See :func:`get_data_home`: the argument, else ``$SKMTREC_DATA``, else
        ``~/skmtrec_data``.

    Returns
    -------
    data : Bunch
        ``train`` and ``test``: DataFrames with the int columns ``user_id`` and ``item_id``,
        one row per interaction (810,128 and 217,242 rows; 29,858 users, 40,981 items).

    Raises
    ------
    OSError
        When a file of the split is missing, naming the folder.

    Examples
    --------
    >>> from skmtrec.datasets import load_gowalla
    >>> data = load_gowalla()  # doctest: +SKIP
    >>> data.train.shape  # doctest: +SKIP
    (810128, 2)
    """
    folder = get_data_home(data_home) / "gowalla"
    missing = [name for name in _FILES if not (folder / name).is_file()]
    if missing:
        raise OSError(
            f"Gowalla files {missing} are not in {folder}. Put the LightGCN split there "
            f"(train.txt.gz, test.txt.gz) or point `data_home` (or the environment variable "
            f"{DATA_HOME_ENV}) at the folder that holds gowalla/."
        )
    return Bunch(train=_read(folder / "train.txt.gz"), test=_read(folder / "test.txt.gz"))


def _read(path: Path) -> pd.DataFrame:
    users, items = [], []
    with gzip.open(path, "rt") as lines:
        for line in lines:
            ids = line.split()
            if len(ids) > 1:
                users.append(np.full(len(ids) - 1, int(ids[0]), dtype=np.int64))
                items.append(np.asarray(ids[1:], dtype=np.int64))
    return pd.DataFrame({"user_id": np.concatenate(users), "item_id": np.concatenate(items)})
