"""The skmtrec command: fit, predict, recommend and evaluate, end to end on small files."""

import json
import pickle
import re
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
from skmtrec._cli import _parser, main
from skmtrec._training.device import check_device
from skmtrec.datasets import make_interactions
from skmtrec.metrics import make_ranking_scorer, make_task_scorer

COMMANDS = ("fit", "predict", "recommend", "evaluate")
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


def fail_if_loaded(path):
    raise AssertionError("the command loaded the model before refusing")


def run_python(code):
    """The last line that ``code`` prints, run by a new Python process."""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True
    )
    return done.stdout.splitlines()[-1]


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
    printed = capsys.readouterr()
    assert printed.out == ""  # stdout stays for data
    assert printed.err == (
        f"wrote {len(read(files / 'test.csv'))} predictions of tasks ['rating', 'like', 'seen'] "
        f"to {files / 'p.csv'}\n"
    )
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
    printed = capsys.readouterr()
    top, test, train = read(out), read(files / "test.csv"), read(files / "train.csv")
    n_users = test["user_id"].nunique()
    assert printed.out == ""
    assert printed.err == f"wrote top-5 for {n_users} users ({len(top)} rows) to {out}\n"
    assert set(top["user_id"]) == set(test["user_id"])
    assert (top.groupby("user_id").size() == 5).all()
    seen = set(zip(train["user_id"], train["item_id"], strict=True))
    assert not any(pair in seen for pair in zip(top["user_id"], top["item_id"], strict=True))


def test_evaluate_reports_the_task_and_ranking_metrics(files, capsys):
    out = files / "metrics.json"
    args = ["evaluate", str(files / "model"), str(files / "test.csv"), "--relevance", "rating:4"]
    assert main([*args, "--clip", "rating:1:5", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    metrics = report["metrics"]
    assert report["k"] == 10
    assert report["relevance"] == {"task": "rating", "threshold": 4.0}
    assert report["clip"] == {"rating": [1.0, 5.0]}
    printed = capsys.readouterr()
    assert "rating rmse" in printed.out and "ndcg@10" in printed.out
    assert printed.err == f"wrote {len(metrics)} metrics to {out}\n"
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
    # stdout and stderr in one stream, whichever of the two the epoch lines go to
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as process:
        lines = []
        # a line per epoch, the epoch number first: signal once the first has ended
        for line in process.stdout:
            lines.append(line)
            if re.match(r"\s*(epoch\s*)?1\b", line):
                break
        else:
            pytest.fail(f"no epoch ended: {''.join(lines)}")
        process.send_signal(number)
        printed = process.communicate(timeout=600)[0]
    assert process.returncode == status, printed
    assert f"stopped by {signal.Signals(number).name}; nothing was saved" in printed
    assert "Traceback" not in printed and "fitted" not in printed
    assert contents(model) == before


def test_fit_replaces_an_existing_model_and_says_so_on_stderr(files, tmp_path, capsys):
    shutil.copytree(files / "model", tmp_path / "model")
    args = ["fit", str(files / "train.csv"), "--model", str(tmp_path / "model")]
    args += ["--task", "rating:regression", "--drop", "like", "--set", "max_epochs=1"]
    assert main(args) == 0
    assert skmtrec.load(tmp_path / "model").tasks_ == {"rating": "regression"}
    printed = capsys.readouterr()
    n_rows = len(read(files / "train.csv"))
    assert printed.err.endswith(
        f"fitted {n_rows} rows, tasks ['rating']; saved to {tmp_path}/model\n"
    )


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
def test_an_unknown_output_suffix_is_refused_before_loading(
    files, tmp_path, capsys, monkeypatch, command, out
):
    """Non-regression test for T14: --out p.xlsx was written as CSV."""
    monkeypatch.setattr("skmtrec._persistence.save_load.load", fail_if_loaded)
    data = (
        ["--users", str(files / "test.csv")]
        if command == "recommend"
        else [str(files / "test.csv")]
    )
    with pytest.raises(SystemExit) as exit_info:
        main([command, str(files / "model"), *data, "--out", str(tmp_path / out)])
    assert exit_info.value.code == 2
    known = ".json" if command == "evaluate" else ".csv, .tsv, .parquet, .json"
    assert f"unknown file type {tmp_path.joinpath(out).suffix!r}; use {known}." in (
        capsys.readouterr().err
    )
    assert not (tmp_path / out).exists()


def test_fit_verbose_prints_the_epochs_on_stderr_and_nothing_on_stdout(files, tmp_path, capsys):
    """stdout holds only data: the epoch lines the training code prints go to stderr."""
    args = ["fit", str(files / "train.csv"), "--model", str(tmp_path / "model")]
    args += ["--task", "rating:regression", "--drop", "like", "--verbose", "1"]
    assert main([*args, "--set", "max_epochs=2"]) == 0
    printed = capsys.readouterr()
    assert printed.out == ""
    assert re.search(r"epoch\s+1/2", printed.err) and "epoch 2/2" in printed.err


@pytest.mark.parametrize(
    ("command", "out"),
    [("predict", "p.csv"), ("recommend", "top.json"), ("evaluate", "metrics.json")],
)
def test_every_out_creates_its_missing_folders(files, tmp_path, capsys, command, out):
    data = ["--users"] if command == "recommend" else []
    target = tmp_path / "new" / "deeper" / out
    args = [command, str(files / "model"), *data, str(files / "test.csv"), "--out", str(target)]
    assert main(args) == 0
    assert target.is_file() and target.stat().st_size > 0
    assert str(target) in capsys.readouterr().err


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


# -- issue 39: a quick --help, --version, plain help, formats by suffix, one line on success --

HEAVY = ("torch", "pandas", "sklearn")
REPORT_HEAVY = f"import sys; print(sorted(m for m in {HEAVY!r} if m in sys.modules))"


def test_import_skmtrec_and_its_version_import_no_torch():
    code = f"import skmtrec; print(skmtrec.__version__); {REPORT_HEAVY}"
    assert run_python(code) == "[]"


@pytest.mark.parametrize(
    "args",
    [["--help"], ["--version"], *([command, "--help"] for command in COMMANDS)],
    ids=lambda args: " ".join(args),
)
def test_help_and_version_import_no_torch(args):
    """Non-regression test for issue 39: `skmtrec --help` took 4 s, torch imported first."""
    code = (
        "from skmtrec._cli import main\n"
        f"try:\n    main({args!r})\nexcept SystemExit as exit:\n    assert exit.code == 0\n"
        + REPORT_HEAVY
    )
    assert run_python(code) == "[]"


def test_python_dash_m_skmtrec_help_imports_no_torch():
    code = (
        "import runpy, sys\nsys.argv = ['skmtrec', '--help']\n"
        "try:\n    runpy.run_module('skmtrec', run_name='__main__')\n"
        "except SystemExit as exit:\n    assert exit.code == 0\n" + REPORT_HEAVY
    )
    assert run_python(code) == "[]"


def test_the_public_names_load_on_first_use():
    assert set(skmtrec.__all__) <= set(dir(skmtrec))
    for name in skmtrec.__all__:
        assert getattr(skmtrec, name) is not None
    assert skmtrec.MultiTaskRecommender is MultiTaskRecommender
    assert skmtrec.metrics.make_ranking_scorer is make_ranking_scorer
    with pytest.raises(AttributeError, match="module 'skmtrec' has no attribute 'nonsense'"):
        skmtrec.nonsense  # noqa: B018


def test_a_pickled_and_a_saved_model_load_in_a_new_process(tmp_path):
    """Unpickling and skmtrec.load find the classes by module path, skmtrec imported lazily."""
    X, y = make_interactions(n_users=30, n_items=20, n_interactions=300, random_state=0)
    X = X.drop(columns="item_text")
    model = MultiTaskRecommender({"rating": "regression"}, max_epochs=1, random_state=0)
    model.fit(X, y[["rating"]])
    (tmp_path / "model.pkl").write_bytes(pickle.dumps(model))
    skmtrec.save(model, tmp_path / "model")
    X.to_pickle(tmp_path / "X.pkl")
    code = (
        "import pickle, pandas as pd\n"
        f"X = pd.read_pickle({str(tmp_path / 'X.pkl')!r})\n"
        f"a = pickle.loads(open({str(tmp_path / 'model.pkl')!r}, 'rb').read()).predict(X)\n"
        f"import skmtrec\nb = skmtrec.load({str(tmp_path / 'model')!r}).predict(X)\n"
        "print(repr([float(v) for v in a[:3]] + [float(v) for v in b[:3]]))"
    )
    got = eval(run_python(code))  # a list of six floats
    expected = [float(v) for v in model.predict(X)[:3]]
    np.testing.assert_allclose(got, expected * 2, rtol=1e-6)


def test_version_prints_the_name_and_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"skmtrec {skmtrec.__version__}\n"


@pytest.mark.parametrize("command", ["", *COMMANDS])
def test_the_help_speaks_plain_words(capsys, command):
    """Non-regression test for issue 39: `evaluate --help` spoke of "protocol R1/R2"."""
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"] if command else ["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "protocol" not in text.lower()
    assert not re.search(r"\bR[12]\b", text)
    # every option and argument says what it does
    parser = _parser()
    if command:
        parser = parser._subparsers._group_actions[0].choices[command]
    for action in parser._actions:
        assert action.help, f"{command or 'skmtrec'} {action.dest} has no help"


def test_evaluate_help_says_what_counts_as_relevant_without_relevance(capsys):
    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "default: every test row counts as relevant" in text


def test_evaluate_prints_the_relevance_rule_above_the_table(files, tmp_path, capsys):
    """Non-regression test for issue 39: NDCG@10 with and without --relevance were printed
    under one name, nothing saying which rule gave it."""
    args = ["evaluate", str(files / "model"), str(files / "test.csv")]
    assert main([*args, "--out", str(tmp_path / "all.json")]) == 0
    every = capsys.readouterr().out
    assert main([*args, "--relevance", "rating:4", "--out", str(tmp_path / "4.json")]) == 0
    rated = capsys.readouterr().out
    assert "# relevant: every test row (no --relevance given)\n" in every
    assert "# relevant: test rows with rating >= 4 (--relevance rating:4)\n" in rated
    # the header comes first, then the table, whose names are the same under both rules
    for printed in (every, rated):
        lines = printed.splitlines()
        header = [i for i, line in enumerate(lines) if line.startswith("# ")]
        assert header == list(range(len(header))) and len(header) < len(lines)
    all_rows = json.loads((tmp_path / "all.json").read_text())
    rated_4 = json.loads((tmp_path / "4.json").read_text())
    assert all_rows["relevance"] is None
    assert rated_4["relevance"] == {"task": "rating", "threshold": 4.0}
    assert all_rows["metrics"]["ndcg@10"] != rated_4["metrics"]["ndcg@10"]


@pytest.mark.parametrize("command", ["predict", "recommend"])
def test_json_output_is_a_list_of_records(files, tmp_path, command):
    model = str(files / "model")
    data = (
        ["--users", str(files / "test.csv")]
        if command == "recommend"
        else [str(files / "test.csv")]
    )
    assert main([command, model, *data, "--out", str(tmp_path / "a.csv")]) == 0
    assert main([command, model, *data, "--out", str(tmp_path / "a.json")]) == 0
    records = json.loads((tmp_path / "a.json").read_text())
    expected = read(tmp_path / "a.csv")
    assert isinstance(records, list) and len(records) == len(expected)
    assert list(records[0]) == list(expected.columns)
    written = pd.DataFrame.from_records(records)
    # ids stay text, as written in the CSV
    assert written["user_id"].tolist() == expected["user_id"].tolist()
    numbers = expected.select_dtypes("number").columns
    # float32 scores: the CSV has their shortest text, the JSON the float64 digits
    np.testing.assert_allclose(written[numbers], expected[numbers], rtol=1e-6)


def test_a_json_table_is_read_with_its_ids_as_text(files, tmp_path):
    test = read(files / "test.csv")
    (tmp_path / "test.json").write_text(test.to_json(orient="records"))
    args = ["predict", str(files / "model")]
    assert main([*args, str(files / "test.csv"), "--out", str(tmp_path / "a.csv")]) == 0
    assert main([*args, str(tmp_path / "test.json"), "--out", str(tmp_path / "b.csv")]) == 0
    pd.testing.assert_frame_equal(read(tmp_path / "a.csv"), read(tmp_path / "b.csv"))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"user_id": 1}', "must be a JSON list of objects"),
        ("[{", "is not valid JSON"),
        ("[]", "has no rows"),
    ],
)
def test_a_json_table_that_is_no_list_of_records_is_refused(
    files, tmp_path, capsys, content, message
):
    (tmp_path / "bad.json").write_text(content)
    with pytest.raises(SystemExit) as exit_info:
        main(["predict", str(files / "model"), str(tmp_path / "bad.json"), "--out", "x.csv"])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize("command", COMMANDS)
def test_an_unknown_input_suffix_is_refused_before_any_work(
    files, tmp_path, capsys, monkeypatch, command
):
    monkeypatch.setattr("skmtrec._persistence.save_load.load", fail_if_loaded)
    monkeypatch.setattr(MultiTaskRecommender, "fit", fail_if_trained)
    table = tmp_path / "data.xlsx"
    table.write_text("user_id,item_id\n1,2\n")
    model = str(files / "model")
    args = {
        "fit": ["fit", str(table), "--model", str(tmp_path / "m"), "--task", "rating:regression"],
        "predict": ["predict", model, str(table), "--out", str(tmp_path / "p.csv")],
        "recommend": ["recommend", model, "--users", str(table), "--out", str(tmp_path / "t.csv")],
        "evaluate": ["evaluate", model, str(table)],
    }[command]
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err == (
        f"skmtrec {command}: error: {table}: unknown file type '.xlsx'; "
        "use .csv, .tsv, .parquet, .json.\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.xlsx"]


@pytest.mark.parametrize(
    ("param", "message"),
    [
        ("embeding_dim=32", "no parameter 'embeding_dim'; did you mean 'embedding_dim'?"),
        (
            "architecture__tower_unit=[8]",
            "no parameter 'architecture__tower_unit'; did you mean 'architecture__tower_units'",
        ),
        (
            "archtecture__tower_units=[8]",
            "no parameter 'archtecture__tower_units'; did you mean 'architecture__tower_units'",
        ),
        ("zzzz=1", "no parameter 'zzzz'; help(skmtrec.MultiTaskRecommender) lists the parameters"),
    ],
)
def test_an_unknown_set_name_is_named_with_the_closest_names(
    files, tmp_path, capsys, monkeypatch, param, message
):
    """Non-regression test for issue 39: `--set embeding_dim=32` printed the estimator's repr
    and 37 names on one line."""
    monkeypatch.setattr(MultiTaskRecommender, "fit", fail_if_trained)
    args = ["fit", str(files / "train.csv"), "--model", str(tmp_path / "m")]
    with pytest.raises(SystemExit) as exit_info:
        main([*args, "--task", "rating:regression", "--set", param])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("skmtrec fit: error: --set: MultiTaskRecommender has no parameter")
    assert message in err
    assert "MultiTaskRecommender(" not in err and len(err) < 200
