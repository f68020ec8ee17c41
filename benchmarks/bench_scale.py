"""Scale past one process: a 10^7-row epoch with 1 and 2 data-parallel processes, and a
projection to 8 GPUs and 10^9 rows.

    python benchmarks/bench_scale.py [--rows 10000000] [--batches 40]

Each configuration runs in fresh processes started by ``torchrun`` (gloo on the CPU): the
default model (``distributed=True``) on ``make_interactions`` with 100,000 users and 20,000
items. An epoch at this size takes tens of minutes, so the time per batch is measured over
``--batches`` batches after 5 warm-up ones, and the epoch is that times the batches in it (the
per-batch cost is the same all through an epoch: shuffled rows, sampled histories). Each
process gets an equal share of the cores. Prints markdown tables and writes them to
benchmarks/results/scale.md.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import torch
from skorch.callbacks import Callback

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DEFAULTS, BatchTimer, EnoughBatches, machine, write

WARM_UP = 5
N_USERS, N_ITEMS = 100_000, 20_000


class GradientBytes(Callback):
    """The bytes of each training step's averaged gradient, split into dense parameters and
    the sparse gradients of the tables (the rows a batch read: indices and values), averaged
    over the steps after ``warm_up``."""

    def __init__(self, warm_up: int):
        self.warm_up = warm_up

    def initialize(self):
        self.steps, self.dense, self.sparse = 0, 0.0, 0.0
        return self

    def on_grad_computed(self, net, named_parameters, training=False, **kwargs):
        self.steps += 1
        if not training or self.steps <= self.warm_up:
            return
        for _, p in named_parameters:
            grad = p.grad
            if grad is None:
                continue
            if grad.is_sparse:
                self.sparse += grad._values().numel() * 4 + grad._nnz() * 8
            else:
                self.dense += grad.numel() * 4

    def per_step_mb(self) -> tuple[float, float]:
        counted = max(1, self.steps - self.warm_up)
        return self.dense / counted / 2**20, self.sparse / counted / 2**20


def worker(rows: int, batches: int) -> None:
    """In each process of a launch: fit until ``WARM_UP + batches`` batches, time the last."""
    from skmtrec import MultiTaskRecommender
    from skmtrec.datasets import make_interactions

    world = int(os.environ.get("WORLD_SIZE", 1))
    torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))
    X, y = make_interactions(n_users=N_USERS, n_items=N_ITEMS, n_interactions=rows, random_state=0)
    X, y = X.drop(columns="item_text"), y[["rating"]]

    timer, exchanged = BatchTimer(batches, WARM_UP), GradientBytes(WARM_UP)
    model = MultiTaskRecommender(
        **DEFAULTS,
        validation_fraction=0,
        max_epochs=1,
        distributed=True,
        callbacks=[exchanged, timer],
    )
    try:
        model.fit(X, y)
    except EnoughBatches:
        pass
    if int(os.environ.get("RANK", 0)) == 0:
        per_batch = timer.seconds / batches
        dense_mb, sparse_mb = exchanged.per_step_mb()
        print(
            json.dumps(
                {
                    "processes": world,
                    "seconds_per_batch": per_batch,
                    "epoch_seconds": per_batch * -(-rows // model.batch_size),
                    "rows_per_second": model.batch_size / per_batch,
                    "dense_mb": dense_mb,
                    "sparse_mb": sparse_mb,
                    "weights_mb": timer.weights * 4 / 2**20,
                }
            )
        )


def launch(processes: int, rows: int, batches: int) -> dict:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    torchrun = str(Path(sys.executable).with_name("torchrun"))
    command = [torchrun, "--nproc_per_node", str(processes), "--master_port", port, __file__]
    out = subprocess.run(
        [*command, "--worker", "--rows", str(rows), "--batches", str(batches)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def projection(measured: list[dict], gpus: int, link_gb_s: float) -> str:
    """What ``gpus`` processes would take for 10^9 rows, from the measured throughput per
    process and the gradient exchanged per step: the dense parameters' by a ring all-reduce
    (each process sends 2 (P - 1) / P times them), the tables' rows by an all-gather (each
    process receives the (P - 1) / P of the batch's rows the others read)."""
    one = measured[-1]
    target = 10**9
    steps = target / 1024
    compute = target / (gpus * measured[0]["rows_per_second"])
    sent_mb = 2 * (gpus - 1) / gpus * one["dense_mb"] + (gpus - 1) / gpus * one["sparse_mb"]
    communicate = steps * sent_mb / 1024 / link_gb_s
    return "\n".join(
        [
            f"Projection, on paper, for {gpus} GPUs and 10^9 rows (same users, items and model):",
            "",
            f"- Steps per epoch at the default batch of 1,024 rows: {steps:,.0f}.",
            f"- Exchanged per step (measured with {one['processes']} processes): the dense "
            f"parameters' gradient, {one['dense_mb']:.1f} MB, and the rows the batch read of the "
            f"tables, {one['sparse_mb']:.1f} MB (of the model's {one['weights_mb']:.0f} MB of "
            f"weights, mostly its tables, none is sent whole); each of {gpus} processes sends "
            f"or receives {sent_mb:.1f} MB a step. At {link_gb_s:g} GB/s per GPU (an "
            f"assumption: NVLink-class; no GPU was measured) that is {communicate:,.0f} s per "
            "epoch.",
            f"- Compute: at the throughput of one process here "
            f"({measured[0]['rows_per_second']:,.0f} rows/s on {os.cpu_count()} CPU cores), "
            f"{gpus} processes need {compute:,.0f} s per epoch; a GPU process is faster by a "
            "factor this machine cannot measure, so this is an upper bound.",
            "- The exchange grows with the rows a batch reads, not with the tables: raising "
            "`batch_size` halves the steps for a volume per step that grows less than the "
            "batch (rows read by several of its rows are sent once).",
        ]
    )


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10**7)
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--processes", type=int, nargs="*", default=[1, 2])
    parser.add_argument("--link-gb-s", type=float, default=100.0)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.rows, args.batches)
        return ""
    lines = [
        f"The default model on `make_interactions` ({args.rows:,} rows, {N_USERS:,} users, "
        f"{N_ITEMS:,} items), data-parallel over CPU processes (torchrun, gloo), each with "
        f"{os.cpu_count()} / P torch threads; per batch over {args.batches} batches after "
        f"{WARM_UP} warm-up ones; {machine()}.",
        "",
        "| processes | seconds per batch | epoch seconds (projected) | rows/s "
        "| dense gradient per step (MB) | tables' rows per step (MB) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    measured = []
    for processes in args.processes:
        r = launch(processes, args.rows, args.batches)
        measured.append(r)
        lines.append(
            f"| {processes} | {r['seconds_per_batch']:.3f} | {r['epoch_seconds']:,.0f} | "
            f"{r['rows_per_second']:,.0f} | {r['dense_mb']:.1f} | {r['sparse_mb']:.1f} |"
        )
        print(lines[-1], flush=True)
    table = "\n".join(lines) + "\n\n" + projection(measured, 8, args.link_gb_s)
    return write(table, "scale.md")


if __name__ == "__main__":
    main()
