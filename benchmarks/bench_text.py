"""Text embedding speed: SentenceEmbedder against plain SentenceTransformer.encode, the cache,
and a GridSearchCV over the title Pipeline with and without the cache (protocol S).

    SKMTREC_DATA=../shared/data python benchmarks/bench_text.py

Prints a markdown table and writes it to benchmarks/results/text.md.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import torch
from sentence_transformers import SentenceTransformer
from sklearn.model_selection import GridSearchCV, KFold

from skmtrec import SentenceEmbedder, _sentence_embedder, make_task_scorer
from skmtrec.datasets import load_movielens_100k

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
from text_pipeline import make_text_pipeline, movielens_xy

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, write

REPEATS = 5


def seconds(func) -> float:
    start = time.perf_counter()
    func()
    return time.perf_counter() - start


def main() -> str:
    torch.set_num_threads(2)
    data = load_movielens_100k(fold=1)
    titles = list(dict.fromkeys(movielens_xy(data.ratings)[0]["title"]))  # distinct, in order
    n = len(titles)
    plain = SentenceTransformer(_sentence_embedder._default_model_path(), device="cpu")
    ours = SentenceEmbedder(device="cpu", cache=False).fit(titles[:1])

    plain_s, ours_s = [], []
    for _ in range(REPEATS):  # interleaved, so both see the same machine load
        plain_s.append(seconds(lambda: plain.encode(titles, batch_size=64)))
        ours_s.append(seconds(lambda: ours.transform(titles)))
    plain_t, ours_t = statistics.median(plain_s), statistics.median(ours_s)

    cached = SentenceEmbedder(device="cpu").fit(titles[:1])
    cached.transform(titles)  # fills the cache
    cache_t = statistics.median(seconds(lambda: cached.transform(titles)) for _ in range(REPEATS))

    X, y = movielens_xy(data.train.sample(20_000, random_state=0))
    grid = {"model__embedding_dim": [8, 16, 24, 32, 48]}
    search_s = {}
    for cache in (True, False):
        _sentence_embedder._MEMORY_CACHE.clear()
        pipeline = make_text_pipeline(max_epochs=5)
        pipeline.set_params(features__title__sentenceembedder__cache=cache)
        search = GridSearchCV(
            pipeline,
            grid,
            cv=KFold(3, shuffle=True, random_state=0),
            scoring=make_task_scorer("rating", "rmse", clip=(1, 5)),
        )
        search_s[cache] = seconds(lambda s=search: s.fit(X, y))

    rows = [
        ("plain SentenceTransformer.encode", f"{n / plain_t:,.0f} texts/s", f"{plain_t:.3f}"),
        (
            "SentenceEmbedder, no cache",
            f"{n / ours_t:,.0f} texts/s ({100 * (ours_t / plain_t - 1):+.1f}% time)",
            f"{ours_t:.3f}",
        ),
        (
            "SentenceEmbedder, repeat call from cache",
            f"{plain_t / cache_t:,.0f}x faster than encode",
            f"{cache_t:.4f}",
        ),
        ("GridSearchCV 5 candidates x 3 folds, cache on", "", f"{search_s[True]:.1f}"),
        (
            "GridSearchCV 5 candidates x 3 folds, cache off",
            f"{search_s[False] / search_s[True]:.2f}x the cached time",
            f"{search_s[False]:.1f}",
        ),
    ]
    lines = [
        f"{n} distinct MovieLens titles (with year), all-MiniLM-L6-v2 on CPU, batch 64, median "
        f"of {REPEATS}; GridSearchCV on 20,000 u1.base rows, 5 epochs. "
        f"{machine()}.",
        "",
        "| what | rate | seconds |",
        "| --- | --- | --- |",
        *(f"| {a} | {b} | {c} |" for a, b, c in rows),
    ]
    return write("\n".join(lines), "text.md")


if __name__ == "__main__":
    main()
