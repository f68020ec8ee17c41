"""Data sets: MovieLens 100K from the GroupLens files, Gowalla in the LightGCN split,
synthetic interactions, and two synthetic tasks of controlled correlation."""

from ._correlated import make_correlated_tasks
from ._gowalla import load_gowalla
from ._movielens import GENRES, get_data_home, load_movielens_100k
from ._synthetic import make_interactions

__all__ = [
    "GENRES",
    "get_data_home",
    "load_gowalla",
    "load_movielens_100k",
    "make_correlated_tasks",
    "make_interactions",
]
