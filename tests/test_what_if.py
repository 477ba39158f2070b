"""One clip with its attention replaced (``core_models.inspect.what_if``): the rows, the sentence that
reads them, and the pages that show them."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from core_models.data import open_reader
from core_models.data.datasets import make_item, prepare_clip
from core_models.inspect import inspect_clip, load_model, what_if
from core_models.models.output import steer_key
from viz.checks import what_if_sentence, what_if_table

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINTS = ROOT / "checkpoints"


@pytest.fixture(scope="module")
def clip(tiny_synth):
    reader = open_reader("synth", str(tiny_synth))
    return reader.load(next(r for r in reader.split("cs", "test") if r.name.endswith("A012")))  # writing


def test_what_if_replays_the_clip_with_uniform_and_true_attention(clip):
    loaded = load_model(CHECKPOINTS / "separable_sta-cs" / "model.pt", "separable_sta-cs")
    rows = what_if(loaded, clip)
    plans = [(r["attention"], r["replaced"]) for r in rows]
    assert plans == [
        ("its own", "-"), ("uniform", "all"), ("uniform", "map weights"), ("uniform", "time-step weights"),
        ("ground truth", "all"), ("ground truth", "map weights"), ("ground truth", "time-step weights"),
    ]  # fmt: skip
    insp = inspect_clip(loaded, clip)
    own = rows[0]
    assert own["prediction"] == insp.class_names[insp.pred] and own["confidence"] == pytest.approx(
        insp.confidence
    )
    assert own["right"] == (insp.pred == clip.label) and own["true class"] == pytest.approx(
        insp.probs[clip.label]
    )
    # the true time steps: each step by its share of the truth interval, as the model reads them
    model = loaded.model.eval()
    item = make_item(prepare_clip(clip, model.input_spec), model.input_spec, clip.label)
    batch = {k: v[None] for k, v in item.items()}
    start, end = item["truth_interval"].tolist()
    steps = insp.attention["temporal"].shape[0]
    edges = np.arange(steps + 1) / steps
    cover = np.clip(np.minimum(edges[1:], end) - np.maximum(edges[:-1], start), 0, None)
    with torch.no_grad():
        out = model(
            {**batch, steer_key("temporal"): torch.tensor(cover / cover.sum(), dtype=torch.float32)[None]}
        )
    probs = torch.softmax(out.logits, -1)[0]
    true_steps = rows[-1]
    assert true_steps["confidence"] == pytest.approx(float(probs.max()), abs=1e-5)
    assert true_steps["true class"] == pytest.approx(float(probs[clip.label]), abs=1e-5)
    # without a ground truth (real data, an upload): no true attention to try
    plain = what_if(loaded, replace(clip, truth=None))
    assert [r["attention"] for r in plain] == ["its own", "uniform", "uniform", "uniform"]
    # a model with no attention to steer has nothing to replay
    assert what_if(load_model(CHECKPOINTS / "i3d-cs" / "model.pt"), clip) == []


def test_what_if_groups_a_models_many_weights_by_kind(clip):
    rows = what_if(load_model(CHECKPOINTS / "temporal_granularity-cs" / "model.pt"), clip)
    plans = [(r["attention"], r["replaced"]) for r in rows]
    assert plans == [
        ("its own", "-"), ("uniform", "all"), ("uniform", "segment weights"),
        ("uniform", "granularity weights"),
        ("ground truth", "all with a ground truth"),  # granularity weights have none: its own kept
    ]  # fmt: skip
    table = what_if_table(rows)
    assert list(table.columns) == ["attention", "replaced", "prediction", "confidence", "true class", "right"]


def _row(attention, replaced, right, pred="reading", conf=0.5):
    return {"attention": attention, "replaced": replaced, "prediction": pred, "confidence": conf,
            "true class": conf if right else 0.1, "right": right}  # fmt: skip


def test_what_if_sentence_says_what_lost_or_kept_the_clip():
    own, flat = _row("its own", "-", False, "typing", 0.61), _row("uniform", "all", False, "typing")
    lost = what_if_sentence([own, flat, _row("ground truth", "all", True, "writing", 0.7)])
    assert lost.startswith("On this clip the model is wrong (*typing*, 0.61) with its own attention, wrong")
    assert "right (0.70) with the ground-truth attention" in lost
    assert lost.endswith("Where the attention went lost this clip: on the evidence it comes right.")
    features = what_if_sentence([own, flat, _row("ground truth", "all with a ground truth", False)])
    assert features.endswith("even on the evidence the model gets it wrong.")
    code = what_if_sentence([_row("its own", "-", True), flat, _row("ground truth", "all", False)])
    assert code.endswith("here it reads them, not only where they land.")
    # no ground truth: read against equal weights alone
    assert what_if_sentence([_row("its own", "-", True), _row("uniform", "all", True)]).endswith(
        "this clip does not need the attention."
    )
    assert what_if_sentence([_row("its own", "-", True), flat]).endswith("this clip needs the attention.")
    assert what_if_sentence([own, _row("uniform", "all", True)]).endswith(
        "the attention misled the model here."
    )
    fused = what_if_sentence([own, flat], fused=True)
    assert fused.startswith("On this clip the model (+ pose classifier) is wrong")
    # a clip of a class the model does not know has nothing to be right about
    unknown = [{k: v for k, v in r.items() if k not in ("true class", "right")} for r in (own, flat)]
    assert what_if_sentence(unknown) is None and what_if_sentence([]) is None


@pytest.mark.parametrize(
    ("page", "model"), [("parts.py", "part_attention-cs"), ("clip.py", "self_attention-cs")]
)
def test_pages_replay_the_clip_with_its_attention_replaced(page, model):
    at = AppTest.from_file(str(ROOT / "pages" / page), default_timeout=120)
    at.session_state["clip_source"] = {"kind": "synthetic", "name": "S001C001P001R001A001"}
    at.session_state["model_name"] = model
    at.run()
    assert not at.exception, at.exception
    assert any(m.value.startswith("**What if the attention were elsewhere?**") for m in at.markdown)
    sentence = next(m.value for m in at.markdown if m.value.startswith("On this clip the model is"))
    assert "with its own attention" in sentence and "with equal weights" in sentence
    table = next(d.value for d in at.dataframe if "replaced" in d.value.columns)
    assert list(table["attention"])[:2] == ["its own", "uniform"]
    # self-attention has no ground truth to put in place of its weights; part attention has
    assert ("ground truth" in set(table["attention"])) == (model == "part_attention-cs")
