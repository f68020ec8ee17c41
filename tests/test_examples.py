"""The examples run and reach their documented quality."""

import importlib.util
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load(name: str):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quickstart_shows_the_tasks_the_text_and_the_reasons(capsys):
    metrics = load("quickstart").main()
    out = capsys.readouterr().out
    text, plain = metrics["with text"], metrics["without"]
    # measured: 0.705, 0.918, 0.502 (best possible about 0.52), 0.192; the global mean's RMSE 1.19
    assert text["rating RMSE"] < 0.8
    assert text["like ROC AUC"] > 0.88
    assert text["category accuracy"] > 0.44
    assert text["interacted NDCG@10"] > 0.1
    # items never seen in fit are served from their text (measured: 0.847 against 1.057, and
    # 0.377 against 0.165)
    assert text["rating RMSE, new items"] < plain["rating RMSE, new items"] - 0.1
    assert text["category acc., new items"] > plain["category acc., new items"] + 0.1
    assert out.count("because of 'A story") == 9
    assert "A new item known only by its text" in out and "recommended to users" in out
    assert "Took" in out


def test_readme_quick_start_runs():
    readme = (EXAMPLES.parent / "README.md").read_text()
    code = readme.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    recs = namespace["ranker"].recommend([0, 1, 2], k=10)
    assert len(recs) == 30 and recs["score"].between(0, 1).all()
    assert namespace["model"].score(namespace["X"], namespace["y"]) > 0.5
