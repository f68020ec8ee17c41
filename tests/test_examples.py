"""The examples run and reach their documented quality."""

import importlib.util
from functools import partial
from pathlib import Path

import skmtrec
from skmtrec import MultiTaskRecommender

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
BENCHMARKS = EXAMPLES.parent / "benchmarks"


def load(name: str, folder: Path = EXAMPLES):
    spec = importlib.util.spec_from_file_location(name, folder / f"{name}.py")
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


def test_readme_quick_start_runs(movielens, monkeypatch, capsys):
    """The README's first Python block, as a user pastes it, on MovieLens 100K u1. Only the
    number of epochs is cut, to 2 (a default fit takes minutes): the block's own import of
    MultiTaskRecommender gets the estimator with ``max_epochs=2`` and nothing else changed."""
    readme = (EXAMPLES.parent / "README.md").read_text()
    code = readme.split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.setattr(
        skmtrec, "MultiTaskRecommender", partial(skmtrec.MultiTaskRecommender, max_epochs=2)
    )
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    model = namespace["model"]
    assert isinstance(model, MultiTaskRecommender) and model.max_epochs == 2
    assert model.get_params()["tasks"] == {"rating": "regression", "interacted": "implicit"}
    out = capsys.readouterr().out
    rmse = float(out.split("RMSE:", 1)[1].split()[0])
    assert rmse < 1.0, out  # the global mean's RMSE on u1.test is 1.15
    recs = model.recommend([1, 2], k=5)
    assert len(recs) == 10 and recs["score"].between(0, 1).all()
    assert f"{recs['item_id'].iloc[0]}" in out  # the printed top items are these
