"""Compare configurations on a validation split of a training fold, never on its test fold.

Holds out 15% of u<fold>.base's rows (seed 0), fits each configuration on the rest and prints
the validation RMSE (R1, clipped to 1-5) and NDCG@10 (R2: relevant = held-out rating >= 4,
the fitted rows excluded). Each configuration is the defaults' (``_common.DEFAULTS``) with
the given parameters on top; a parameter set to null is removed. A head's sizes and the
cold-start settings go by their nested names (``architecture__n_experts``,
``cold_start__ridge``), set on the head of ``architecture`` (a name) and on ``ColdStart()``.
Used to choose defaults and parameters before any test-fold run:

    SKMTREC_DATA=../shared/data python benchmarks/validate.py \\
        '{"base": {}, "experts": {"architecture__n_experts": 8}}'

With ``--gowalla``, on R5's validation split of Gowalla's train file instead (``_gowalla.py``:
20% of each user's items held out, seed 0): each configuration is the implicit task given and
the parameters (plain names only), scored by Recall@20 and NDCG@20.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import root_mean_squared_error
from sklearn.model_selection import train_test_split

from skmtrec import PLE, ColdStart, MMoE, MultiTaskRecommender, SharedBottom
from skmtrec.datasets import load_movielens_100k

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DEFAULTS, machine, movielens_xy, r2_metrics, skmtrec_lists, write
from _gowalla import validate_gowalla

HEADS = {"shared_bottom": SharedBottom, "mmoe": MMoE, "ple": PLE}


def make_model(config: dict) -> MultiTaskRecommender:
    """The estimator of ``config``: nested names (``architecture__n_experts``,
    ``cold_start__ridge``) are set on the head's object (built from the name where
    ``architecture`` is one) and on ``ColdStart()`` where ``cold_start`` is None."""
    model = MultiTaskRecommender(**{k: v for k, v in config.items() if "__" not in k})
    nested = {k: v for k, v in config.items() if "__" in k}
    objects = {}
    if any(k.startswith("architecture__") for k in nested) and isinstance(model.architecture, str):
        objects["architecture"] = HEADS[model.architecture]()
    if any(k.startswith("cold_start__") for k in nested) and model.cold_start is None:
        objects["cold_start"] = ColdStart()
    return model.set_params(**objects, **nested)


def validate(configs: dict[str, dict], fold: int = 1) -> str:
    torch.set_num_threads(2)
    data = load_movielens_100k(fold=fold)
    fit_rows, held_out = train_test_split(data.train, test_size=0.15, random_state=0)
    X, y = movielens_xy(fit_rows)
    X_val, y_val = movielens_xy(held_out)
    items = np.sort(data.train["item_id"].unique())
    lines = [
        f"Validation: 15% of u{fold}.base held out (seed 0). {machine()}.",
        "",
        "| configuration | RMSE | NDCG@10 | fit seconds |",
        "| --- | --- | --- | --- |",
    ]
    for name, params in configs.items():
        config = {k: v for k, v in {**DEFAULTS, **params}.items() if v is not None}
        start = time.perf_counter()
        model = make_model(config).fit(X, y if "rating" in config["tasks"] else None)
        seconds = time.perf_counter() - start
        rmse = ndcg = float("nan")
        if "rating" in config["tasks"]:
            pred = np.clip(model.predict_tasks(X_val)["rating"].to_numpy(dtype=float), 1, 5)
            rmse = root_mean_squared_error(y_val["rating"], pred)
        if any(kind == "implicit" for kind in config["tasks"].values()):
            ndcg = r2_metrics(skmtrec_lists(model, held_out), held_out, items)["ndcg"]
        lines.append(f"| {name} | {rmse:.4f} | {ndcg:.4f} | {seconds:.1f} |")
        print(lines[-1], flush=True)
    return "\n".join(lines)


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("configs", help="JSON object: name -> parameters over DEFAULTS")
    parser.add_argument("--fold", type=int, default=1)
    parser.add_argument("--gowalla", action="store_true", help="R5's validation split instead")
    args = parser.parse_args(argv)
    configs = json.loads(args.configs)
    if args.gowalla:
        torch.set_num_threads(2)
        return write(validate_gowalla(configs), "validation_gowalla.md")
    return write(validate(configs, args.fold), "validation.md")


if __name__ == "__main__":
    main()
