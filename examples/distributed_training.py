"""Data-parallel training: one model fitted by several processes, each reading its share of
every batch.

Start it through a launcher, which sets each process's rank:

    torchrun --nproc_per_node 2 examples/distributed_training.py --out fitted.json
    accelerate launch --num_processes 8 examples/distributed_training.py --device cuda

Every process loads the same data and calls ``fit``; ``distributed=True`` averages the
gradients across them, so every process ends with the same model and history. Only the main
process writes: the epoch table (with ``--verbose 1``) and the summary in ``--out``. Run with
plain ``python`` it fits in one process. ``--report DIR`` makes every process write what it
learned (its history, a few predictions, what it printed and which tables gave sparse
gradients) to ``DIR/rank<k>.json``, which the tests compare across processes. A small
``--batch-size`` (32) makes the user ids' table larger than a batch reads, so its gradients are
exchanged as the rows read.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
from pathlib import Path

import torch
from sklearn.metrics import root_mean_squared_error

from skmtrec import MultiTaskRecommender
from skmtrec.datasets import make_interactions


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=30_000)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--verbose", type=int, default=0)
    parser.add_argument("--single", action="store_true", help="train without distributed=True")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--report", type=Path, default=None)
    args = parser.parse_args(argv)
    # each process gets an equal share of the machine's cores
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // int(os.environ.get("WORLD_SIZE", 1))))

    X, y = make_interactions(
        n_users=400, n_items=200, n_interactions=args.rows + 5_000, random_state=0
    )
    X = X.drop(columns="item_text")
    X_train, y_train = X.iloc[: args.rows], y.iloc[: args.rows][["rating", "like"]]
    X_test, y_test = X.iloc[args.rows :], y.iloc[args.rows :]["rating"]
    model = MultiTaskRecommender(
        tasks={"rating": "regression", "like": "binary", "interacted": "implicit"},
        distributed=not args.single,
        device=args.device,
        max_epochs=args.epochs,
        batch_size=args.batch_size,
        random_state=0,
        verbose=args.verbose,
    )
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        model.fit(X_train, y_train)
    print(printed.getvalue(), end="")
    rank = int(os.environ.get("RANK", 0))
    history = model.net_.history
    summary = {
        "rank": rank,
        "rmse": root_mean_squared_error(y_test, model.predict_tasks(X_test)["rating"]),
        "epochs": len(history),
        "train_loss": history[:, "train_loss"],
        "valid_loss": history[:, "valid_loss"],
        "first_predictions": model.predict_tasks(X_test.iloc[:5]).to_numpy().tolist(),
        "printed": printed.getvalue(),
        # which tables gave sparse gradients (one process only: several exchange dense ones)
        "sparse_tables": [t.sparse for t, _ in model.net_.module_.inputs.growing_tables()],
    }
    if args.report is not None:
        args.report.mkdir(parents=True, exist_ok=True)
        (args.report / f"rank{rank}.json").write_text(json.dumps(summary))
    if args.out is not None and rank == 0:
        args.out.write_text(json.dumps({k: summary[k] for k in ("rmse", "epochs")}))
    return summary


if __name__ == "__main__":
    summary = main()
    if summary["rank"] == 0:
        print(f"RMSE {summary['rmse']:.4f} after {summary['epochs']} epochs")
