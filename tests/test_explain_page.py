"""The attribution page, its entry from the failures list, and faithfulness on the compare page
(AppTest on shipped checkpoints)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import streamlit as st
from plotly_arrays import array
from streamlit.testing.v1 import AppTest

from app_support.models import ModelEntry, faithfulness_frame
from app_support.navigation import PENDING
from core_models.explain import explain_run, read_explain

ROOT = Path(__file__).parents[1]


def page(**state) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages/explain.py"), default_timeout=300)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, at.exception
    return at


def test_the_cost_shows_before_a_run_and_the_results_after():
    at = page(model_name="part_attention-cs", explain_method="integrated_gradients", explain_steps=4)
    assert any(c.value.startswith("Cost: Integrated Gradients: 4 forward+backward") for c in at.caption)
    assert not at.metric and not at.get("plotly_chart")  # nothing runs before the button
    at.button(key="explain_run").click().run()
    assert not at.exception, at.exception
    labels = {m.label for m in at.metric}
    assert "rank agreement, parts" in labels and "attribution on the true parts" in labels
    assert len(at.get("plotly_chart")) >= 2  # part shares, deletion / insertion curves
    assert at.radio(key="explain_over").options == ["body parts", "temporal segments"]
    at.run()  # the same settings again: cached, no button
    assert not [b for b in at.button if b.key == "explain_run"]
    assert any("computed earlier" in c.value for c in at.caption)


def _figure(at: AppTest, key: str) -> dict:
    import json

    (chart,) = [c for c in at.get("plotly_chart") if c.proto.id.endswith(key) or key in c.proto.id]
    return json.loads(chart.proto.spec)


def test_a_failure_is_explained_as_why_the_prediction_and_not_the_truth_on_what_the_model_read():
    import pandas as pd

    table = pd.read_parquet(ROOT / "checkpoints/part_attention-cs/eval/test/predictions.parquet")
    wrong = table[~table["correct"]]
    if wrong.empty:
        pytest.skip("the shipped part-attention checkpoint gets every test clip right")
    row = wrong.iloc[0]
    at = page(model_name="part_attention-cs", clip_source={"kind": "synthetic", "name": row["clip"]})
    question = f"why {row['pred_name']} and not {row['label_name']}"
    assert at.radio(key="explain_question").value == "contrast"  # the default for a wrong prediction
    assert question in at.radio(key="explain_question").options[2]
    assert at.selectbox(key="explain_method").value == "grad_cam"  # fast: it ran without a button
    assert not [b for b in at.button if b.key == "explain_run"]
    fig = _figure(at, "explain_inputs")
    # one row per explanation (each class alone, then the contrast), one column per part crop
    axes = sorted((int(k[5:] or 1), v) for k, v in fig["layout"].items() if k.startswith("yaxis"))
    rows = [v["title"]["text"] for _, v in axes if v.get("title", {}).get("text")]
    assert rows == [row["pred_name"], row["label_name"], f"{row['pred_name']} and not {row['label_name']}"]
    heat = [d for d in fig["data"] if d["type"] == "heatmap"]
    metrics = ROOT / "checkpoints/part_attention-cs/eval/test/metrics.json"
    parts = json.loads(metrics.read_text())["part_names"]  # the cpu preset's: the two hands
    P = len(parts)
    assert len(heat) == 3 * P and {d["name"] for d in heat} == set(parts)
    axis = fig["layout"]["coloraxis"]
    assert axis["cmid"] == 0 and axis["cmin"] == -axis["cmax"]  # a diverging, sign-aware scale
    for r in range(3):  # each row on the -1..1 scale: divided by its largest magnitude
        z = np.concatenate([array(d["z"], np.float64).ravel() for d in heat[P * r : P * r + P]])
        assert np.abs(z).max() == pytest.approx(1.0) and np.abs(z).max() <= 1.0 + 1e-9
    shares = _figure(at, "explain_parts")
    assert [d["name"] for d in shares["data"]][-1] == "attention" and len(shares["data"]) == 4


def test_grad_cam_on_a_recurrent_model_explains_time():
    at = page(model_name="skeleton_lstm-cs", explain_method="grad_cam", explain_question="pred")
    assert not [b for b in at.button if b.key == "explain_run"]  # a fast method runs at once
    assert at.radio(key="explain_over").options == ["temporal segments"]  # no parts from a temporal CAM
    assert "attribution in the true interval" in {m.label for m in at.metric}


def test_a_clip_the_model_cannot_read_is_explained_in_words(tmp_path):
    import numpy as np

    from core_models.data.video import write_video

    frames = np.random.default_rng(0).integers(0, 255, (8, 32, 32, 3), dtype=np.uint8)  # blank is refused
    video = write_video(tmp_path / "v.avi", frames, 30)
    at = page(
        model_name="skeleton_lstm-cs", clip_source={"kind": "upload", "video": str(video), "skeleton": None}
    )
    assert "cannot read this clip" in at.error[0].value


def test_a_failure_opens_in_the_attribution_page(monkeypatch):
    calls: list[str] = []
    monkeypatch.setattr(st, "switch_page", lambda p: calls.append(str(p)))
    at = AppTest.from_file(str(ROOT / "pages/failures.py"), default_timeout=120)
    at.run()
    cards = [b for b in at.button if str(b.key).startswith("failures_") and str(b.key).endswith("_explain")]
    assert cards, "the failures gallery has no Explain button"
    clip = cards[0].key[len("failures_") : -len("_explain")]
    cards[0].click().run()
    pending = at.session_state[PENDING]
    assert (pending["name"], pending["model"], pending["data"]) == (clip, "part_attention-cs", "synth")
    assert calls == ["pages/explain.py"]


@pytest.fixture(scope="module")
def explained(tmp_path_factory):
    """Copies of two shipped runs with `explain --method saliency` summaries of the same 3 clips."""
    out = {}
    for name in ("skeleton_lstm-cs", "separable_sta-cs"):
        run = tmp_path_factory.mktemp("runs") / name
        shutil.copytree(ROOT / "checkpoints" / name, run, ignore=shutil.ignore_patterns("explain-*"))
        explain_run(run, "saliency", limit=3)
        out[name] = run
    return out


def test_faithfulness_summaries_rank_the_models(explained):
    frame = faithfulness_frame(explained)
    assert set(frame["model"]) == set(explained) and set(frame["method"]) == {"saliency"}
    assert (frame["clips"] == 3).all()
    assert frame["faithfulness_segments"].is_monotonic_decreasing  # most faithful first
    assert frame["auc_deletion_segments"].between(0, 1).all() and frame["faithfulness_segments"].notna().all()
    sep = frame.set_index("model").loc["separable_sta-cs"]
    table = read_explain(explained["separable_sta-cs"], "saliency")
    gap = (table["auc_insertion_segments"] - table["auc_deletion_segments"]) / table["prob_target"]
    assert sep["faithfulness_segments"] == pytest.approx(gap.mean())


def test_the_compare_page_shows_faithfulness(explained, monkeypatch):
    import app_support.models as models

    entries = [ModelEntry(n, p, n.split("-")[0], "cpu", "synth", "cs", False) for n, p in explained.items()]
    import app_support.state as state

    monkeypatch.setattr(models, "list_models", lambda *a, **k: entries)
    monkeypatch.setattr(state, "list_models", lambda *a, **k: entries)  # as imported by the page's state
    st.cache_data.clear()
    at = AppTest.from_file(str(ROOT / "pages/compare.py"), default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    assert "Faithfulness of their attributions" in [h.value for h in at.header]
    table = next(d.value for d in at.dataframe if "method" in d.value.columns)  # the faithfulness table
    assert set(table["model"]) == set(explained) and (table["clips"] == 3).all()
    st.cache_data.clear()
