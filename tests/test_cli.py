"""The skmtrec command: fit, predict, recommend and evaluate, end to end on small files."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import skmtrec
from skmtrec._cli import main
from skmtrec.datasets import make_interactions
from skmtrec.metrics import make_ranking_scorer, make_task_scorer


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
    args += ["--set", "max_epochs=15", "--set", "tower_units=[16]"]
    assert main(args) == 0
    return folder


def test_fit_saves_a_model_with_the_tasks_and_parameters(files):
    model = skmtrec.load(files / "model")
    assert model.tasks_ == {"rating": "regression", "like": "binary", "seen": "implicit"}
    assert model.tower_units == (16,)
    assert model.random_state == 0
    assert list(model.feature_names_in_) == ["user_id", "item_id", "user_age", "user_segment"]


def test_predict_writes_ids_and_one_column_per_task(files):
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
    written = pd.read_csv(files / "p.csv")
    test = pd.read_csv(files / "test.csv")
    assert list(written.columns) == ["user_id", "item_id", "rating", "like", "seen"]
    expected = skmtrec.load(files / "model").predict_tasks(
        test[["user_id", "item_id", "user_age", "user_segment"]]
    )
    np.testing.assert_allclose(written["rating"], expected["rating"], rtol=1e-6)
    # the rating learned something: below the error of predicting the mean
    rmse = np.sqrt(np.mean((written["rating"] - test["rating"]) ** 2))
    assert rmse < 0.9 * test["rating"].std()


def test_recommend_writes_k_unseen_items_per_user(files):
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
    top = pd.read_csv(out)
    test, train = pd.read_csv(files / "test.csv"), pd.read_csv(files / "train.csv")
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
    test = pd.read_csv(files / "test.csv")
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
    pd.read_csv(files / "test.csv").to_parquet(tmp_path / "test.parquet")
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
