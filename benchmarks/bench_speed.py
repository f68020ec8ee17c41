"""Speed and scale (protocol S): fit and predict on MovieLens u1 beside Surprise and implicit,
fit with the text cache cold and warm; serving (predict over 10^6 rows: u1.test repeated,
the same shuffled, and random pairs of 5,000 users and items; recommend-all on
MovieLens and top-10 for 5,000 users over 5,000 items, beside implicit's ALS); and seconds per
batch (an epoch projected from them) and peak memory on synthetic data of 10^5, 10^6 and 10^7
rows (100,000 users and 20,000 items at every size, so that the tables stay the same and only
the rows grow); whole fits of 10^6 rows with 10,000 x 2,000 and 100,000 x 20,000 users and
items (fit-scale). Where a GPU is present, the GPU table too: seconds per epoch at 10^6 and 10^7
rows (10^8 on request; projected from batches, as on the CPU; a size that runs out of memory
or time says so), fit on u1.base with and without mixed precision, predict rows/s and
recommend-all. Persistence: save and load of a model of 100,000 users and 20,000 items, beside
reading and hashing its files alone (what checking them costs at least).

    SKMTREC_DATA=../shared/data python benchmarks/bench_speed.py
        [--only movielens|serving|scale|fit-scale|gpu|persistence]
        [--scale 100000 1000000 10000000]
        [--device cuda] [--gpu-sizes 1000000 10000000 [100000000]] [--gpu-timeout 600]

Prints markdown tables and writes them to benchmarks/results/speed.md (speed_<part>.md with
``--only``). ``--only gpu --device cpu`` runs the GPU table's code on the CPU (a check of the
script, not a figure to quote).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import root_mean_squared_error

import skmtrec
from skmtrec import MultiTaskRecommender, _sentence_embedder
from skmtrec.datasets import load_movielens_100k, make_interactions

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
from _common import DEFAULTS, BatchTimer, EnoughBatches, machine, movielens_xy, write
from text_pipeline import make_text_pipeline
from text_pipeline import movielens_xy as movielens_text_xy

REPEATS = 3
SCALE_USERS, SCALE_ITEMS = 100_000, 20_000
WARM_UP, BATCHES = 5, 40


def timed(func, repeats=REPEATS) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = func()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def movielens_speed() -> str:
    from implicit.als import AlternatingLeastSquares
    from scipy import sparse
    from surprise import SVD, Dataset, Reader, SVDpp

    data = load_movielens_100k(fold=1)
    train, test = data.train, data.test
    X, y = movielens_xy(train)
    X_test, _ = movielens_xy(test)
    rows = []

    fit_s, model = timed(lambda: MultiTaskRecommender(**DEFAULTS).fit(X, y))
    predict_s, _ = timed(lambda: model.predict(X_test))
    rows.append(("skmtrec, defaults", fit_s, len(X_test) / predict_s))

    X_text, y_text = movielens_text_xy(train)
    _sentence_embedder._MEMORY_CACHE.clear()
    cold_s, _ = timed(lambda: make_text_pipeline().fit(X_text, y_text), repeats=1)
    warm_s, pipeline = timed(lambda: make_text_pipeline().fit(X_text, y_text), repeats=1)
    X_text_test = movielens_text_xy(test)[0]
    text_predict_s, _ = timed(lambda: pipeline.predict(X_text_test))
    rows.append(("skmtrec + titles, text cache cold", cold_s, float("nan")))
    rows.append(("skmtrec + titles, text cache warm", warm_s, len(X_test) / text_predict_s))

    trainset = Dataset.load_from_df(
        train[["user_id", "item_id", "rating"]], Reader(rating_scale=(1, 5))
    ).build_full_trainset()
    pairs = list(zip(test["user_id"], test["item_id"], strict=True))
    for name, make, repeats in (
        ("Surprise SVD", lambda: SVD(random_state=0), REPEATS),
        ("Surprise SVD++", lambda: SVDpp(random_state=0, cache_ratings=True), 1),
    ):
        fit_s, algo = timed(lambda m=make: m().fit(trainset), repeats=repeats)
        predict_s, _ = timed(lambda a=algo: [a.predict(u, i) for u, i in pairs])
        rows.append((name, fit_s, len(pairs) / predict_s))

    users = train["user_id"].astype("category")
    items = train["item_id"].astype("category")
    matrix = sparse.csr_matrix(
        (np.ones(len(train), dtype=np.float32), (users.cat.codes, items.cat.codes))
    )
    als = AlternatingLeastSquares(
        factors=64, regularization=0.05, iterations=30, random_state=0, use_gpu=False
    )
    fit_s, _ = timed(lambda: als.fit(matrix, show_progress=False))
    rows.append(("implicit ALS (64 factors, 30 iterations)", fit_s, float("nan")))

    lines = [
        f"MovieLens 100K u1.base (80,000 rows) fit, u1.test (20,000 rows) predict; median of "
        f"{REPEATS} (SVD++ and the cold/warm text fits: one run); {machine()}.",
        "",
        "| model | fit seconds | predict rows/s |",
        "| --- | --- | --- |",
    ]
    for name, fit_s, rate in rows:
        rate_cell = "-" if np.isnan(rate) else f"{rate:,.0f}"
        lines.append(f"| {name} | {fit_s:.2f} | {rate_cell} |")
    return "\n".join(lines)


def serving() -> str:
    """Predict and recommend with fitted defaults. Serving speed does not depend on how well a
    model learned, so each trains one epoch. Beside each time, the floor: what the first
    layers' products alone take at this machine's best matrix-product rate."""
    data = load_movielens_100k(fold=1)
    X, y = movielens_xy(data.train)
    model = MultiTaskRecommender(**DEFAULTS, max_epochs=1).fit(X, y)
    X_big = pd.concat([movielens_xy(data.test)[0]] * 50, ignore_index=True)
    shuffled = X_big.sample(frac=1.0, random_state=0)
    rows = [
        predict_row(f"predict {len(rows_in):,} rows ({name})", model, rows_in)
        for name, rows_in in (("u1.test 50 times", X_big), ("the same, shuffled", shuffled))
    ]
    rows.append(recommend_row("recommend top-10 to every user of u1.base", model, X))

    X, y = make_interactions(n_users=5000, n_items=5000, n_interactions=100_000, random_state=0)
    X = X.drop(columns="item_text")
    model = MultiTaskRecommender(**DEFAULTS, max_epochs=1).fit(X, y[["rating"]])
    # every row a random pair of the 5,000 users (with their features) and 5,000 items
    rng = np.random.default_rng(0)
    people = X.drop_duplicates("user_id").drop(columns="item_id").reset_index(drop=True)
    pairs = people.iloc[rng.integers(0, len(people), 1_000_000)].reset_index(drop=True)
    pairs["item_id"] = rng.choice(X["item_id"].unique(), len(pairs))
    name = "predict 1,000,000 random pairs of 5,000 users and 5,000 items"
    rows.append(predict_row(name, model, pairs[X.columns]))
    rows.append(recommend_row("recommend top-10 to 5,000 users over 5,000 items", model, X))

    # a catalog of 40,000 items: "auto" makes the implicit task the retrieval task
    X, y = make_interactions(n_users=30_000, n_items=40_000, n_interactions=600_000, random_state=0)
    X = X.drop(columns="item_text")
    model = MultiTaskRecommender(**DEFAULTS, max_epochs=1).fit(X, y[["rating"]])
    name = "recommend top-20 to 30,000 users over 40,000 items (retrieval)"
    rows.append(recommend_row(name, model, X, k=20, head=False))
    name = "the same, re-ranked by the rating: the head over 500 candidates per user"
    rows.append(recommend_row(name, model, X, k=20, head=False, task="rating"))
    lines = [
        f"The defaults (rating + implicit; one epoch of training) on MovieLens 100K u1, on "
        f"`make_interactions` (100,000 rows) and on a catalog of 30,000 users x 40,000 items "
        f'(600,000 rows; the implicit task there a retrieval task, as `ranking_loss="auto"` '
        f"makes it from 10,000 items on); median of {REPEATS}; {machine()}. "
        "Recommend: every user of the training rows over every item of them, seen items "
        "excluded; ALS (implicit, 64 factors, 30 iterations) fitted on the same rows and "
        "timed the same way. Floor: the head's first-layer products alone (per row d x width "
        "multiply-adds, the user * item term; per recommended pair (d + 1) x width, the item "
        "and a one against each user's weights) at the best rate of such a product in this "
        "run.",
        "",
        "| task | rows or pairs | skmtrec seconds | per second | first-layer floor seconds "
        "| implicit ALS seconds |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name, seconds, als_s, n, floor in rows:
        als_cell = "-" if als_s is None else f"{als_s:.3f}"
        floor_cell = "-" if floor is None else f"{floor:.3f}"
        lines.append(
            f"| {name} | {n:,} | {seconds:.3f} | {n / seconds:,.0f} | {floor_cell} | {als_cell} |"
        )
    return "\n".join(lines)


def predict_row(name: str, model, X) -> tuple:
    """A serving table's row for predicting ``X``: name, seconds, no ALS time, rows, floor."""
    seconds, _ = timed(lambda: model.predict(X))
    return name, seconds, None, len(X), first_layer_floor(model, len(X), per_pair=False)


def recommend_row(
    name: str, model, X, k: int = 10, head: bool = True, task: str | None = None
) -> tuple:
    """A serving table's row for recommending to every user of ``X`` by ``task``
    (``recommend_all``); the floor of the head's pairs where the head scores every pair
    (``head``), else None."""
    seconds, als_s, n = recommend_all(model, X, k, task)
    floor = first_layer_floor(model, n, per_pair=True) if head else None
    return name, seconds, als_s, n, floor


def first_layer_floor(model, n: int, per_pair: bool) -> float:
    """Seconds that the multiply-adds of the head's first layers take, for ``n`` predicted
    rows or recommended pairs, at the best rate this machine gives such a product now: d x
    width per row, (d + 1) x width per pair (``model``'s embedding width d and first-layer
    outputs, as ``predict`` and ``recommend`` compute them)."""
    d = model.embedding_dim + (1 if per_pair else 0)
    width = model.net_.module_.first_layers_width()
    a, b = torch.randn(5000, d), torch.randn(d, width)
    best = np.inf
    with torch.no_grad():
        for _ in range(30):
            start = time.perf_counter()
            torch.matmul(a, b)
            best = min(best, time.perf_counter() - start)
    return best * n / 5000  # 5,000 rows of the same product per best time


def recommend_all(model, X, k: int = 10, task: str | None = None) -> tuple[float, float, int]:
    """Seconds for ``model`` (ranking by ``task``) and for ALS to give every user of X its top
    ``k`` among the items of X, seen items excluded; and the number of (user, item) pairs
    ranked."""
    from implicit.als import AlternatingLeastSquares
    from scipy import sparse

    users = pd.Index(np.sort(X["user_id"].unique()))
    items = pd.Index(np.sort(X["item_id"].unique()))
    seconds, _ = timed(lambda: model.recommend(users.to_numpy(), k=k, task=task))
    seen = sparse.csr_matrix(
        (
            np.ones(len(X), dtype=np.float32),
            (users.get_indexer(X["user_id"]), items.get_indexer(X["item_id"])),
        ),
        shape=(len(users), len(items)),
    )
    seen.sum_duplicates()
    seen.data[:] = 1.0
    als = AlternatingLeastSquares(
        factors=64, regularization=0.05, iterations=30, random_state=0, use_gpu=False
    )
    als.fit(seen, show_progress=False)
    als_s, _ = timed(
        lambda: als.recommend(np.arange(len(users)), seen, N=k, filter_already_liked_items=True)
    )
    return seconds, als_s, len(users) * len(items)


def persistence() -> str:
    """Save and load a fitted model (the defaults, one epoch on 200,000 rows of 100,000 users
    and 20,000 items), beside reading and hashing its files alone: the floor of a checked
    load."""
    X, y = make_interactions(
        n_users=SCALE_USERS, n_items=SCALE_ITEMS, n_interactions=200_000, random_state=0
    )
    X = X.drop(columns="item_text")
    model = MultiTaskRecommender(**DEFAULTS, max_epochs=1).fit(X, y[["rating"]])
    with tempfile.TemporaryDirectory() as root:
        folder = Path(root) / "model"
        save_s, _ = timed(lambda: skmtrec.save(model, folder), repeats=5)
        load_s, loaded = timed(lambda: skmtrec.load(folder), repeats=5)
        files = list(folder.iterdir())
        floor_s, _ = timed(
            lambda: [hashlib.sha256(f.read_bytes()).digest() for f in files], repeats=5
        )
        megabytes = sum(f.stat().st_size for f in files) / 1e6
    same = np.array_equal(loaded.predict(X.head(10_000)), model.predict(X.head(10_000)))
    return "\n".join(
        [
            f"The defaults fitted one epoch on `make_interactions` ({SCALE_USERS:,} users, "
            f"{SCALE_ITEMS:,} items, 200,000 rows); median of 5; {machine()}. Loaded "
            f"predictions identical: {same}.",
            "",
            "| folder MB | save seconds | load seconds | read + SHA-256 of the files seconds |",
            "| --- | --- | --- | --- |",
            f"| {megabytes:.1f} | {save_s:.3f} | {load_s:.3f} | {floor_s:.3f} |",
        ]
    )


def peak_mb() -> float:
    """Peak resident memory of this process.

    Linux carries ``ru_maxrss`` over fork and exec, so a child started by a large parent reports
    at least the parent's peak; ``VmHWM`` belongs to the process's own address space.
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def per_batch(
    n_rows: int, n_users: int, n_items: int, batches: int = BATCHES, device: str = "cpu"
) -> dict:
    """In a fresh process: generate n_rows, fit the defaults on ``device`` and time
    ``batches`` training batches after ``WARM_UP``; the seconds per batch and the peak memory
    (the device's, on a GPU). An epoch of 10^7 rows takes tens of minutes, and its per-batch
    cost is the same all through it (shuffled rows, sampled histories), so the epoch is
    projected from the batches."""
    X, y = make_interactions(
        n_users=n_users, n_items=n_items, n_interactions=n_rows, random_state=0
    )
    X, y = X.drop(columns="item_text"), y[["rating"]]

    timer = BatchTimer(batches, WARM_UP)
    model = MultiTaskRecommender(
        **DEFAULTS, validation_fraction=0, max_epochs=1, callbacks=[timer], device=device
    )
    try:
        model.fit(X, y)
    except EnoughBatches:
        pass
    seconds = timer.seconds / batches
    on_gpu = torch.device(device).type == "cuda"
    return {
        "rows": n_rows,
        "users": n_users,
        "items": n_items,
        "batch_s": seconds,
        "epoch_s": seconds * -(-n_rows // model.batch_size),
        "peak_mb": torch.cuda.max_memory_allocated(device) / 2**20 if on_gpu else peak_mb(),
    }


# what a child's error output says when it ran out of the device's memory or the host's
# (in this order: torch's OutOfMemoryError holds "memoryerror" too)
_OUT_OF_MEMORY = {
    "device": ("cuda out of memory", "cublas_status_alloc_failed", "outofmemoryerror"),
    "host": ("memoryerror", "unable to allocate"),
}


def _per_batch_run(
    n: int, users: int, items: int, device: str = "cpu", timeout: float | None = None
) -> tuple[dict | None, str]:
    """``per_batch`` in a fresh process: its result, or None and why it gave none (out of
    host or device memory, out of time, or the error's last line)."""
    command = [sys.executable, __file__, "--per-batch", *map(str, (n, users, items))]
    try:
        done = subprocess.run(
            [*command, "--device", device], capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return None, f"over {timeout:.0f} s"
    if done.returncode == 0:
        return json.loads(done.stdout.strip().splitlines()[-1]), ""
    error = done.stderr.lower()
    for where, signs in _OUT_OF_MEMORY.items():
        if any(sign in error for sign in signs):
            return None, f"out of {where} memory"
    if done.returncode in (-9, 137):
        return None, "killed (out of host memory?)"
    return None, "failed: " + (done.stderr.strip().splitlines() or ["no message"])[-1]


def scale(sizes: list[int]) -> str:
    lines = [
        f"The defaults (rating + implicit) on `make_interactions`, no validation split; seconds "
        f"per batch of 1,024 rows (and their sampled negatives) over {BATCHES} batches after "
        f"{WARM_UP} warm-up ones, each size in a fresh process; {machine()}. The rows grow "
        f"with {SCALE_USERS:,} users and {SCALE_ITEMS:,} items at every size; the last row has "
        "tables ten times larger for 10^6 rows.",
        "",
        "| rows | users | items | seconds per batch | microseconds per row "
        "| epoch seconds (projected) | peak memory (MB) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    runs = [(n, SCALE_USERS, SCALE_ITEMS) for n in sizes]
    runs.append((10**6, 10 * SCALE_USERS, 10 * SCALE_ITEMS))
    for n, users, items in runs:
        r, why = _per_batch_run(n, users, items)
        if r is None:
            raise RuntimeError(f"{n:,} rows: {why}")
        lines.append(
            f"| {r['rows']:,} | {r['users']:,} | {r['items']:,} | {r['batch_s']:.3f} "
            f"| {1e6 * r['batch_s'] / 1024:.0f} | {r['epoch_s']:,.0f} | {r['peak_mb']:,.0f} |"
        )
        print(lines[-1], flush=True)
    return "\n".join(lines)


FIT_TABLES = [(10_000, 2_000), (SCALE_USERS, SCALE_ITEMS)]
FIT_TASKS = {"defaults": DEFAULTS["tasks"], "rating alone": {"rating": "regression"}}


def whole_fit(n_users: int, n_items: int, tasks: str, epochs: int = 2) -> dict:
    """In a fresh process: a whole fit (``epochs`` epochs, the default validation split) of
    10^6 rows of ``n_users`` x ``n_items``, with the tasks ``FIT_TASKS[tasks]``; the
    seconds in all, in the epochs (training and validation) and before them (preparing the
    data, histories, the network)."""
    X, y = make_interactions(n_users=n_users, n_items=n_items, n_interactions=10**6, random_state=0)
    X, y = X.drop(columns="item_text"), y[["rating"]]
    model = MultiTaskRecommender(
        **{**DEFAULTS, "tasks": FIT_TASKS[tasks]}, max_epochs=epochs, patience=None
    )
    start = time.perf_counter()
    model.fit(X, y)
    total = time.perf_counter() - start
    in_epochs = sum(row["dur"] for row in model.net_.history)
    return {"total_s": total, "epochs_s": in_epochs, "before_s": total - in_epochs}


def fit_scale() -> str:
    """Whole fits of 10^6 rows with small and large tables (``whole_fit``), each in a fresh
    process, and the ratio of their times."""
    lines = [
        f"Whole fits of 10^6 rows of `make_interactions` (2 epochs, the default validation "
        f"split), each in a fresh process; {machine()}. With 2,000 items the implicit task is "
        "scored through the head against 8 sampled negatives per row; with 20,000 (from "
        "10,000 items on) it is a retrieval task.",
        "",
        "| tasks | users x items | fit seconds | in the epochs | before them | ratio to the "
        "small tables |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for tasks in FIT_TASKS:
        small = None
        for users, items in FIT_TABLES:
            command = [sys.executable, __file__, "--whole-fit", str(users), str(items), tasks]
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            r = json.loads(done.stdout.strip().splitlines()[-1])
            small = small or r["total_s"]
            lines.append(
                f"| {tasks} | {users:,} x {items:,} | {r['total_s']:.1f} | {r['epochs_s']:.1f} "
                f"| {r['before_s']:.1f} | {r['total_s'] / small:.2f} |"
            )
            print(lines[-1], flush=True)
    return "\n".join(lines)


def gpu(device: str, sizes: list[int], timeout: float) -> str:
    """The defaults on ``device``: seconds per epoch at each of ``sizes`` (100,000 users and
    20,000 items, projected from batches as in ``scale``, each in a fresh process given at most
    ``timeout`` seconds), fit on u1.base with bf16 autocast where the device supports it and in
    float32, predict on u1.test 50 times and recommend-all on u1. Each row is printed as soon
    as it is measured, so that a run cut short keeps what it measured."""
    lines = [
        f"The defaults (rating + implicit) on `device={device!r}`: {machine(device)} (the host's "
        f"threads prepare the batches). Epochs: each size in a fresh process, projected from "
        f"{BATCHES} batches after {WARM_UP}; fits: one run each, after an untimed warm-up fit; "
        f"predict and recommend: median of {REPEATS}, with the model of the mixed-precision "
        "fit. Compare with the CPU tables of the same run.",
        "",
        "| task | rows or pairs | seconds | rate | peak device memory (MB) |",
        "| --- | --- | --- | --- | --- |",
    ]
    print("\n".join(lines), flush=True)

    def row(name, n, seconds, rate, memory="-"):
        cell = "-" if seconds is None else f"{seconds:,.3f}"
        lines.append(f"| {name} | {n} | {cell} | {rate} | {memory} |")
        print(lines[-1], flush=True)

    # the children first, while this process holds nothing on the device
    for n in sizes:
        r, why = _per_batch_run(n, SCALE_USERS, SCALE_ITEMS, device, timeout)
        name = f"epoch of {n:,} rows (projected)"
        if r is None:
            row(name, f"{n:,}", None, why)
        else:
            rate = f"{n / r['epoch_s']:,.0f} rows/s"
            row(name, f"{n:,}", r["epoch_s"], rate, f"{r['peak_mb']:,.0f}")
    data = load_movielens_100k(fold=1)
    X, y = movielens_xy(data.train)
    X_test, y_test = movielens_xy(data.test)
    # the device's first use (its context, libraries and kernels) is no fit's time
    MultiTaskRecommender(**DEFAULTS, device=device, max_epochs=1).fit(X[:5000], y[:5000])
    model = None
    for precision in ("auto", "no"):
        fit_s, fitted = timed(
            lambda p=precision: MultiTaskRecommender(
                **DEFAULTS, device=device, mixed_precision=p
            ).fit(X, y),
            repeats=1,
        )
        error = root_mean_squared_error(y_test["rating"], fitted.predict_tasks(X_test)["rating"])
        epochs = len(fitted.net_.history)
        name = f"fit u1.base, mixed_precision={precision!r} ({epochs} epochs; RMSE {error:.4f})"
        row(name, f"{len(X):,}", fit_s, f"{len(X) * epochs / fit_s:,.0f} rows/s")
        if model is None:
            model = fitted
    X_big = pd.concat([X_test] * 50, ignore_index=True)
    predict_s, _ = timed(lambda: model.predict(X_big))
    row(
        "predict u1.test 50 times",
        f"{len(X_big):,}",
        predict_s,
        f"{len(X_big) / predict_s:,.0f} rows/s",
    )
    seconds, als_s, pairs = recommend_all(model, X)
    name = f"recommend top-10 to every user of u1.base (ALS on the CPU: {als_s:.3f} s)"
    row(name, f"{pairs:,}", seconds, f"{pairs / seconds:,.0f} pairs/s")
    return "\n".join(lines)


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only",
        choices=["movielens", "serving", "scale", "fit-scale", "gpu", "persistence"],
        default=None,
    )
    parser.add_argument("--scale", type=int, nargs="*", default=[10**5, 10**6, 10**7])
    parser.add_argument("--device", default="cuda", help="the GPU table's device")
    parser.add_argument("--gpu-sizes", type=int, nargs="*", default=[10**6, 10**7])
    parser.add_argument("--gpu-timeout", type=float, default=600, help="seconds per GPU size")
    parser.add_argument("--per-batch", type=int, nargs=3, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--whole-fit", nargs=3, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    torch.set_num_threads(2)
    if args.per_batch:
        print(json.dumps(per_batch(*args.per_batch, device=args.device)))
        return ""
    if args.whole_fit:
        users, items, tasks = args.whole_fit
        print(json.dumps(whole_fit(int(users), int(items), tasks)))
        return ""
    parts = []
    if args.only in (None, "movielens"):
        parts.append(movielens_speed())
    if args.only in (None, "serving"):
        parts.append(serving())
    if args.only in (None, "scale"):
        parts.append(scale(args.scale))
    if args.only in (None, "fit-scale"):
        parts.append(fit_scale())
    if args.only in (None, "persistence"):
        parts.append(persistence())
    if args.only == "gpu" or (args.only is None and torch.cuda.is_available()):
        parts.append(gpu(args.device, args.gpu_sizes, args.gpu_timeout))
    name = "speed.md" if args.only is None else f"speed_{args.only}.md"
    return write("\n\n".join(parts), name)


if __name__ == "__main__":
    main()
