"""Data sets: MovieLens 100K from the GroupLens files, and synthetic interactions."""

from ._movielens import GENRES, get_data_home, load_movielens_100k
from ._synthetic import make_interactions

__all__ = ["GENRES", "get_data_home", "load_movielens_100k", "make_interactions"]
