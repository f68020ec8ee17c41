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


def test_readme_quick_start_runs():
    readme = (EXAMPLES.parent / "README.md").read_text()
    code = readme.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    recs = namespace["ranker"].recommend([0, 1, 2], k=10)
    assert len(recs) == 30 and recs["score"].between(0, 1).all()
    assert namespace["model"].score(namespace["X"], namespace["y"]) > 0.5
