"""Fit the defaults on MovieLens 100K u1.base and save the picture of training: each task's
training and validation loss per epoch, and the task weights as they adapt.

    SKMTREC_DATA=../shared/data python examples/training_history.py --out docs/training_history.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

from skmtrec import MultiTaskRecommender
from skmtrec.datasets import GENRES, load_movielens_100k
from skmtrec.inspection import TrainingHistoryDisplay


def main(argv=None) -> TrainingHistoryDisplay:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("training_history.png"))
    parser.add_argument("--rows", type=int, default=None, help="subsample u1.base")
    parser.add_argument("--max-epochs", type=int, default=50)
    args = parser.parse_args(argv)
    matplotlib.use("Agg")  # files, no screen
    train = load_movielens_100k(fold=1).train
    if args.rows is not None:
        train = train.sample(n=args.rows, random_state=0)
    X = train[["user_id", "item_id", "age", "gender", "occupation", *GENRES]].copy()
    model = MultiTaskRecommender(
        tasks={"rating": "regression", "interacted": "implicit"},
        max_epochs=args.max_epochs,
        random_state=0,
    ).fit(X, train[["rating"]])
    display = TrainingHistoryDisplay.from_estimator(model)
    display.figure_.suptitle("MovieLens 100K u1.base, default MultiTaskRecommender")
    display.figure_.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    display.figure_.savefig(args.out, dpi=110)
    print(f"saved {args.out} ({len(model.net_.history)} epochs)")
    return display


if __name__ == "__main__":
    main()
