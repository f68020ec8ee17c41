"""Distributed tuning: Optuna workers in separate processes share one study on a real
PostgreSQL server, started for the test in a temporary folder."""

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import optuna
import pytest

from .conftest import free_port, run_workers
from .test_examples import BENCHMARKS, load


@pytest.fixture(scope="module")
def postgres_url():
    """A PostgreSQL server of its own (``initdb``, ``pg_ctl``), as an SQLAlchemy URL."""
    if not (shutil.which("initdb") and shutil.which("pg_ctl")):
        pytest.skip("PostgreSQL's initdb and pg_ctl are not on PATH: no server to start")
    pytest.importorskip("psycopg", reason="the psycopg driver (the `tune` extra) is missing")
    folder = Path(tempfile.mkdtemp(prefix="skmtrec-pg-"))
    data, sockets, log = folder / "data", folder / "sockets", folder / "server.log"
    as_server = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root: run it as nobody
        as_server = ["runuser", "-u", "nobody", "--"]
        folder.chmod(0o755)
        for path in (data, sockets):
            path.mkdir(mode=0o700)
            shutil.chown(path, "nobody")
        log.touch()
        shutil.chown(log, "nobody")
    port = free_port()
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.PIPE, "check": True}
    subprocess.run(
        [*as_server, "initdb", "-D", data, "-U", "postgres", "--auth=trust", "--no-sync"], **quiet
    )
    options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        [*as_server, "pg_ctl", "-D", data, "-o", options, "-l", log, "-w", "start"], **quiet
    )
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run([*as_server, "pg_ctl", "-D", data, "-m", "immediate", "stop"], **quiet)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.slow  # a database server and two worker processes
def test_two_workers_share_a_study_on_postgresql(postgres_url, movielens):
    example = load("optuna_defaults", BENCHMARKS)
    example.main(["--storage", postgres_url, "--n-trials", "0"])  # the study, before the workers
    command = [
        sys.executable,
        str(BENCHMARKS / "optuna_defaults.py"),
        *("--storage", postgres_url, "--n-trials", "2", "--folds", "1"),
        *("--rows", "3000", "--max-epochs", "3"),
    ]
    run_workers(command, 2)

    study = example.load_study(postgres_url)  # a new handle: what the server holds
    assert sorted(t.number for t in study.trials) == [0, 1, 2, 3]
    assert all(t.state.is_finished() for t in study.trials)
    assert study.trials[0].params == example.DEFAULTS  # enqueued once, run by one worker
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert complete and all(t.user_attrs["fold1"]["rmse"] < 1.2 for t in complete)
