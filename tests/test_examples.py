"""The examples run and reach their documented quality."""

import importlib.util
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quickstart_prints_metrics_and_recommendations(capsys):
    metrics = load("quickstart").main()
    out = capsys.readouterr().out
    # the global-mean RMSE on this data is 1.21
    assert metrics["rating RMSE"] < 0.8
    assert metrics["like ROC AUC"] > 0.85
    assert metrics["category accuracy"] > 0.9
    assert out.count("User ") == 3 and out.count("item ") >= 15
