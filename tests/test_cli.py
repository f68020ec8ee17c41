"""The skmtrec command: fit, predict, recommend and evaluate, end to end on small files."""

import json
import shutil
import signal
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

import skmtrec
from skmtrec import MultiTaskRecommender
from skmtrec._cli import main
from skmtrec._training.device import check_device
from skmtrec.datasets import make_interactions
from skmtrec.metrics import make_ranking_scorer, make_task_scorer

# a CUDA device this machine lacks: any on a CPU machine, one past the last on a GPU machine
MISSING_CUDA = f"cuda:{torch.cuda.device_count()}" if torch.cuda.is_available() else "cuda"


def read(path):
    """A CSV the command wrote or read, its ids as text as the command reads them."""
    return pd.read_csv(path, dtype={"user_id": str, "item_id": str})


def contents(folder):
    """{name: bytes} of the files in ``folder``, or None where it does not exist."""
    if not folder.exists():
        return None
    return {str(f.relative_to(folder)): f.read_bytes() for f in folder.rglob("*") if f.is_file()}


def fail_if_trained(self, X, y=None):
    raise AssertionError("the command trained before refusing")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Train and test CSV files of synthetic interactions, and the model `skmtrec fit` made."""
    folder = tmp_path_factory.mktemp("cli")
    X, y = make_interactions(n_users=150, n_items=80, n_interactions=6000, random_state=0)
    table = pd.concat([X.drop(columns="item_text"), y[["rating", "like"]]], axis=1)
    test = table.sample(frac=0.2, random_state=0)
    table.drop(test.index).to_csv(folder / "train.csv", index=False)
    test.to_csv(folder / "test.csv", index=False)
    args = ["fit", str(folder / "train.csv"), "--model", str(folder / "model")]
    args += ["--task", "rating:regression", "--task", "like:binary", "--task", "seen:implicit"]
    args += ["--set", "max_epochs=15", "--set", "architecture__tower_units=[16]"]
    assert main(args) == 0
    return folder


def test_fit_saves_a_model_with_the_tasks_and_parameters(files):
    model = skmtrec.load(files / "model")
    assert model.tasks_ == {"rating": "regression", "like": "binary", "seen": "implicit"}
    assert model.architecture.tower_units == (16,)
    assert model.random_state == 0
    assert list(model.feature_names_in_) == ["user_id", "item_id", "user_age", "user_segment"]


def test_predict_writes_ids_and_one_column_per_task(files, capsys):
    assert (
        main(
            [
                "predict",
                str(files / "model"),
                str(files / "test.csv"),
                "--out",
                str(files / "p.csv"),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert printed.count("\n") == 1 and f"to {files / 'p.csv'}" in printed
    written, test = read(files / "p.csv"), read(files / "test.csv")
    assert list(written.columns) == ["user_id", "item_id", "rating", "like", "seen"]
    assert written["user_id"].equals(test["user_id"])
    expected = skmtrec.load(files / "model").predict_tasks(
        test[["user_id", "item_id", "user_age", "user_segment"]]
    )
    np.testing.assert_allclose(written["rating"], expected["rating"], rtol=1e-6)
    # the rating learned something: below the error of predicting the mean
    rmse = np.sqrt(np.mean((written["rating"] - test["rating"]) ** 2))
    assert rmse < 0.9 * test["rating"].std()


def test_recommend_writes_k_unseen_items_per_user(files, capsys):
    out = files / "top.csv"
    assert (
        main(
            [
                "recommend",
                str(files / "model"),
                "--users",
                str(files / "test.csv"),
                "--k",
                "5",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert printed.count("\n") == 1 and f"to {out}" in printed
    top, test, train = read(out), read(files / "test.csv"), read(files / "train.csv")
    assert set(top["user_id"]) == set(test["user_id"])
    assert (top.groupby("user_id").size() == 5).all()
    seen = set(zip(train["user_id"], train["item_id"], strict=True))
    assert not any(pair in seen for pair in zip(top["user_id"], top["item_id"], strict=True))


def test_evaluate_reports_the_task_and_ranking_metrics(files, capsys):
    out = files / "metrics.json"
    args = ["evaluate", str(files / "model"), str(files / "test.csv"), "--relevance", "rating:4"]
    assert main([*args, "--clip", "rating:1:5", "--out", str(out)]) == 0
    metrics = json.loads(out.read_text())
    printed = capsys.readouterr().out
    assert "rating rmse" in printed and "ndcg@10" in printed
    # the same numbers as the Python scorers on the loaded model
    model = skmtrec.load(files / "model")
    test = read(files / "test.csv")
    X, y = test[list(model.feature_names_in_)], test[["rating", "like"]]
    rmse = -make_task_scorer("rating", "rmse", clip=(1, 5))(model, X, y)
    ndcg = make_ranking_scorer("ndcg", 10, relevance=("rating", 4))(model, X, y)
    assert metrics["rating rmse"] == pytest.approx(rmse)
    assert metrics["ndcg@10"] == pytest.approx(ndcg)
    assert set(metrics) >= {"rating mae", "like roc_auc", "recall@10", "hit_rate@10"}
    # better than chance: 80 items, of which each test user has a few relevant ones
    assert metrics["like roc_auc"] > 0.6
    assert metrics["hit_rate@10"] > 0.2


def test_parquet_files_in_and_out(files, tmp_path):
    pytest.importorskip("pyarrow")
    read(files / "test.csv").to_parquet(tmp_path / "test.parquet")
    args = ["predict", str(files / "model"), str(tmp_path / "test.parquet")]
    assert main([*args, "--out", str(tmp_path / "p.parquet")]) == 0
    assert len(pd.read_parquet(tmp_path / "p.parquet")) == len(pd.read_csv(files / "test.csv"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--task", "rating"], "--task 'rating': expected NAME:KIND"),
        (["--task", "rating:ordinal"], "ordinal"),
        (["--task", "stars:regression"], "no column for task(s) ['stars']"),
        (["--task", "rating:regression", "--set", "nonsense=1"], "nonsense"),
    ],
)
def test_bad_fit_arguments_name_what_is_wrong(files, tmp_path, capsys, args, message):
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", str(files / "train.csv"), "--model", str(tmp_path / "m"), *args])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


def test_a_missing_file_is_named(files, capsys):
    with pytest.raises(SystemExit):
        main(["predict", str(files / "model"), str(files / "nowhere.csv"), "--out", "x.csv"])
    assert "nowhere.csv does not exist" in capsys.readouterr().err


def test_the_console_script_and_module_show_help():
    script = shutil.which("skmtrec")
    commands = [[sys.executable, "-m", "skmtrec", "evaluate", "--help"]]
    if script is not None:  # installed with pip: the entry point
        commands.append([script, "fit", "--help"])
    for command in commands:
        done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)
        assert "usage: skmtrec" in done.stdout


@pytest.mark.parametrize(
    ("number", "status", "existing"),
    [(signal.SIGINT, 130, True), (signal.SIGTERM, 143, True), (signal.SIGINT, 130, False)],
)
def test_a_signal_during_fit_saves_nothing(files, tmp_path, number, status, existing):
    """Non-regression test for T3: Ctrl-C after a few epochs saved the half-trained model
    over the old one and exited 0."""
    model = tmp_path / "model"
    if existing:
        shutil.copytree(files / "model", model)
    before = contents(model)
    command = [sys.executable, "-u", "-m", "skmtrec", "fit", str(files / "train.csv")]
    command += ["--model", str(model), "--task", "rating:regression", "--drop", "like"]
    command += ["--verbose", "1"]
    command += [
        "--set",
        "max_epochs=500",
        "--set",
        "patience=null",
        "--set",
        "architecture__tower_units=[16]",
    ]
    with (
        open(tmp_path / "err", "w") as err,
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=err, text=True) as process,
    ):
        # skorch prints a row per epoch, the epoch first: signal once the first has ended
        for line in process.stdout:
            if line.split()[:1] == ["1"]:
                break
        else:
            pytest.fail(f"no epoch ended: {(tmp_path / 'err').read_text()}")
        process.send_signal(number)
        out = process.communicate(timeout=600)[0]
    printed = (tmp_path / "err").read_text()
    assert process.returncode == status, printed
    assert f"stopped by {signal.Signals(number).name}; nothing was saved" in printed
    assert "Traceback" not in printed and "saved to" not in out
    assert contents(model) == before


def test_fit_replaces_an_existing_model(files, tmp_path):
    shutil.copytree(files / "model", tmp_path / "model")
    args = ["fit", str(files / "train.csv"), "--model", str(tmp_path / "model")]
    args += ["--task", "rating:regression", "--drop", "like", "--set", "max_epochs=1"]
    assert main(args) == 0
    assert skmtrec.load(tmp_path / "model").tasks_ == {"rating": "regression"}


def test_ids_are_read_as_written(tmp_path):
    """Non-regression test for T7: the users 007, 07 and 7 were read as one user 7, and ids
    came back without their leading zeros."""
    X, y = make_interactions(n_users=30, n_items=20, n_interactions=400, random_state=0)
    users = {0: "007", 1: "07", 2: "7"}
    table = pd.DataFrame(
        {
            "user_id": [users.get(u, str(100 + u)) for u in X["user_id"]],
            "item_id": [f"{i:03d}" for i in X["item_id"]],
            "rating": y["rating"],
        }
    )
    table.to_csv(tmp_path / "train.csv", index=False)
    table[table["user_id"].isin(users.values())].to_csv(tmp_path / "users.csv", index=False)
    args = ["fit", str(tmp_path / "train.csv"), "--model", str(tmp_path / "model")]
    assert main([*args, "--task", "rating:regression", "--set", "max_epochs=1"]) == 0
    args = ["recommend", str(tmp_path / "model"), "--users", str(tmp_path / "users.csv")]
    assert main([*args, "--k", "20", "--out", str(tmp_path / "top.csv")]) == 0
    top = read(tmp_path / "top.csv")
    assert set(top["user_id"]) == set(users.values())
    # each of the three is itself: it is offered every item but the ones it rated
    catalog = set(table["item_id"])
    for user, rows in top.groupby("user_id"):
        assert set(rows["item_id"]) == catalog - set(table.loc[table["user_id"] == user, "item_id"])


def test_a_model_fitted_on_number_ids_in_python_reads_them_as_numbers(tmp_path):
    X, y = make_interactions(n_users=30, n_items=20, n_interactions=400, random_state=0)
    X = X.drop(columns="item_text")
    model = MultiTaskRecommender({"rating": "regression"}, max_epochs=1, random_state=0)
    skmtrec.save(model.fit(X, y[["rating"]]), tmp_path / "model")
    X.to_csv(tmp_path / "test.csv", index=False)
    args = ["predict", str(tmp_path / "model"), str(tmp_path / "test.csv")]
    assert main([*args, "--out", str(tmp_path / "p.csv")]) == 0
    written = pd.read_csv(tmp_path / "p.csv")
    np.testing.assert_allclose(written["rating"], model.predict(X), rtol=1e-6)


@pytest.mark.parametrize("kind", ["file", "folder of other files"])
def test_fit_refuses_a_model_path_that_is_no_model_before_training(
    files, tmp_path, capsys, monkeypatch, kind
):
    """Non-regression test for T13 and T14: a file as --model failed after the whole fit, and
    a folder of the user's files had its history.json overwritten."""
    monkeypatch.setattr(MultiTaskRecommender, "fit", fail_if_trained)
    if kind == "file":
        target = tmp_path / "model.csv"
        target.write_text("mine\n")
    else:
        target = tmp_path / "results"
        target.mkdir()
        (target / "history.json").write_text('{"mine": 1}')
    before = target.read_bytes() if kind == "file" else contents(target)
    args = ["fit", str(files / "train.csv"), "--model", str(target), "--task", "rating:regression"]
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"skmtrec fit: error: {target}") and err.count("\n") == 1
    assert (target.read_bytes() if kind == "file" else contents(target)) == before


@pytest.mark.parametrize("device", ["nonsense", MISSING_CUDA])
def test_fit_refuses_a_device_missing_here_before_training(
    files, tmp_path, capsys, monkeypatch, device
):
    """Non-regression test for T13: device=cuda on a machine without CUDA ended in torch's
    AssertionError traceback, device=nonsense in its RuntimeError."""
    monkeypatch.setattr(MultiTaskRecommender, "fit", fail_if_trained)
    args = ["fit", str(files / "train.csv"), "--model", str(tmp_path / "m")]
    with pytest.raises(SystemExit) as exit_info:
        main([*args, "--task", "rating:regression", "--set", f"device={device}"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("skmtrec fit: error: `device`") and err.count("\n") == 1
    assert device in err
    assert not (tmp_path / "m").exists()


def test_check_device():
    check_device("cpu")
    with pytest.raises(ValueError, match="`device` must be a torch device"):
        check_device("nonsense")
    with pytest.raises(ValueError, match=r"`device`=.*CUDA"):
        check_device(MISSING_CUDA)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--clip", "rating:5:1"], "--clip 'rating:5:1': LOW must be below HIGH"),
        (["--clip", "nope:1:5"], "'nope' is not a regression task of the model"),
        (["--clip", "like:0:1"], "'like' is not a regression task of the model"),
        (["--clip", "rating:1"], "--clip 'rating:1': expected TASK:LOW:HIGH"),
        (["--relevance", "nope:4"], "the model has no task 'nope'"),
        (["--relevance", "rating:high"], "'high' is not a number"),
    ],
)
def test_evaluate_refuses_a_clip_or_relevance_that_does_not_fit_the_model(
    files, capsys, args, message
):
    """Non-regression test for T14: a clip with LOW > HIGH or for a task the model lacks was
    accepted."""
    with pytest.raises(SystemExit) as exit_info:
        main(["evaluate", str(files / "model"), str(files / "test.csv"), *args])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("skmtrec evaluate: error:") and message in err


@pytest.mark.parametrize(
    ("command", "out"),
    [("predict", "p.xlsx"), ("recommend", "top.xlsx"), ("evaluate", "metrics.csv")],
)
def test_an_unknown_output_suffix_is_refused(files, tmp_path, capsys, command, out):
    """Non-regression test for T14: --out p.xlsx was written as CSV."""
    data = (
        ["--users", str(files / "test.csv")]
        if command == "recommend"
        else [str(files / "test.csv")]
    )
    with pytest.raises(SystemExit) as exit_info:
        main([command, str(files / "model"), *data, "--out", str(tmp_path / out)])
    assert exit_info.value.code == 2
    assert "unknown file type" in capsys.readouterr().err
    assert not (tmp_path / out).exists()


def test_the_output_format_follows_the_suffix(files, tmp_path):
    """Non-regression test for T14: a .tsv was written with commas."""
    args = ["predict", str(files / "model"), str(files / "test.csv")]
    assert main([*args, "--out", str(tmp_path / "p.tsv")]) == 0
    tsv = pd.read_csv(tmp_path / "p.tsv", sep="\t", dtype={"user_id": str, "item_id": str})
    assert list(tsv.columns) == ["user_id", "item_id", "rating", "like", "seen"]
    assert tsv["user_id"].equals(read(files / "test.csv")["user_id"])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        ("user_id,item_id\nJos\xe9,1\n".encode("latin-1"), "is not UTF-8 text"),
        (b"user_id,item_id\n1,2\n3,4,5,6\n", "cannot be read as a table"),
        (b"user_id,item_id,user_age,user_segment\n", "has no rows"),
    ],
)
def test_an_unreadable_table_is_named_on_one_line(files, tmp_path, capsys, content, message):
    """Non-regression test for T14: an empty or non-UTF-8 CSV gave pandas' message without
    the file named."""
    (tmp_path / "bad.csv").write_bytes(content)
    with pytest.raises(SystemExit) as exit_info:
        main(["predict", str(files / "model"), str(tmp_path / "bad.csv"), "--out", "x.csv"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"skmtrec predict: error: {tmp_path / 'bad.csv'} {message}")
    assert err.count("\n") == 1


def test_an_os_error_is_one_line(files, tmp_path, capsys):
    (tmp_path / "p.csv").mkdir()  # --out names a folder
    args = ["predict", str(files / "model"), str(files / "test.csv")]
    with pytest.raises(SystemExit) as exit_info:
        main([*args, "--out", str(tmp_path / "p.csv")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("skmtrec predict: error:") and "p.csv" in err
    assert err.count("\n") == 1


def test_a_model_that_fails_to_load_is_named_on_one_line(files, tmp_path, capsys):
    shutil.copytree(files / "model", tmp_path / "model")
    (tmp_path / "model" / "estimator.json").write_text("{\n")
    args = ["predict", str(tmp_path / "model"), str(files / "test.csv")]
    with pytest.raises(SystemExit) as exit_info:
        main([*args, "--out", str(tmp_path / "p.csv")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "estimator.json is not valid JSON" in err and err.count("\n") == 1
