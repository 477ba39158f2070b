"""`hands`: which hand's crop the shipped part-attention model reads the class from, and the desk
counterfactuals it renders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from core_models import hands
from core_models.synth.generate import SYNTH_CLASSES, dataset_clip, render_clip

SHIPPED = Path(__file__).resolve().parents[1] / "checkpoints"


def test_the_desk_counterfactuals_change_only_the_desk():
    name = "S001C001P001R001A001"  # drink water: the cup is taken from the desk
    clip = render_clip(name, size=(60, 80))
    with hands.desk("full"):
        full = render_clip(name, size=(60, 80))
    with hands.desk("empty"):
        empty = render_clip(name, size=(60, 80))
    np.testing.assert_array_equal(render_clip(name, size=(60, 80)).frames, clip.frames)  # restored after
    np.testing.assert_array_equal(full.joints3d, clip.joints3d)  # the same motion

    def changed(other):  # pixels per frame that differ clearly
        return (np.abs(other.frames.astype(int) - clip.frames.astype(int)).max(-1) > 40).sum(axis=(1, 2))

    assert changed(empty).min() > 10  # the pile is gone on every frame
    # full: the frames before the grasp and after the release are the dataset's; while the cup is
    # in the hand, a copy of it stays in its slot
    held = changed(full) > 0
    first, last = np.flatnonzero(held)[[0, -1]]
    assert 0 < first < last < len(held) - 1 and held[first : last + 1].mean() > 0.9
    lo, hi = clip.truth.interval
    assert first <= lo + 5 and last >= hi - 5  # the cup is in the hand through the action
    with pytest.raises(ValueError, match="unknown desk"), hands.desk("tidy"):
        pass


def test_hand_heads_of_the_shipped_model(tiny_synth):
    run = SHIPPED / "part_attention-cs"
    table = hands.hand_heads(run, root=tiny_synth, classes=["A001", "A028"], limit=3)
    assert len(table) == 3 and set(table["acting_hand"]) <= {"left", "right"}
    # the shipped cpu preset reads the two hands and one of them per clip: all weight on one hand
    both = table["acting_weight"] + table["idle_weight"]
    assert np.allclose(both, 1.0) and set(np.round(table["acting_weight"], 6)) <= {0.0, 1.0}
    # the acting head's answer is the acting hand's stream, recomputed here from the model
    from core_models.checkpoint import build_from_checkpoint, load_checkpoint
    from core_models.data.datasets import make_item, prepare_clip

    model = build_from_checkpoint(load_checkpoint(SHIPPED / "part_attention-cs" / "model.pt"))
    row = table.iloc[0]
    clip = dataset_clip(row["clip"], size=(60, 80))
    item = make_item(prepare_clip(clip, model.input_spec), model.input_spec, clip.label)
    with torch.no_grad():
        out = model({k: v.unsqueeze(0) for k, v in item.items() if torch.is_tensor(v)})
    parts = list(model.config.parts)
    heads = out.aux["part_logits"][0]
    assert row["acting_head"] == int(heads[parts.index(f"{row['acting_hand']}_hand")].argmax())
    idle = "left" if row["acting_hand"] == "right" else "right"
    assert row["idle_head"] == int(heads[parts.index(f"{idle}_hand")].argmax())

    # the predictions with the hands' weight on one hand are the model's, steered
    from core_models.models.output import steer_key

    batch = {k: v.unsqueeze(0) for k, v in item.items() if torch.is_tensor(v)}
    for who, hand in (("acting", row["acting_hand"]), ("idle", idle)):
        steered = {**batch, steer_key("parts"): hands.on_one_hand(out.attention["parts"], parts, hand)}
        with torch.no_grad():
            assert row[f"model_{who}_only"] == int(model(steered).logits[0].argmax())

    s = hands.summary(table, list(SYNTH_CLASSES))
    assert list(s["class"])[-1] == "all" and s["clips"].iloc[-1] == 3
    md = hands.markdown(s)
    assert md.count("\n") == len(s) + 1 and "| acting crop right |" in md
    assert "| model right, acting hand only | model right, idle hand only |" in md


def test_on_one_hand_moves_the_hands_weight_and_keeps_the_rest():
    parts = ["left_hand", "right_hand", "full_body"]
    w = torch.tensor([[[0.2, 0.3, 0.5], [0.6, 0.1, 0.3]]])  # (B, T', P)
    left = hands.on_one_hand(w, parts, "left")
    torch.testing.assert_close(left, torch.tensor([[[0.5, 0.0, 0.5], [0.7, 0.0, 0.3]]]))
    right = hands.on_one_hand(w[:, 0], parts, "right")  # per-clip weights (B, P)
    torch.testing.assert_close(right, torch.tensor([[0.0, 0.5, 0.5]]))
    torch.testing.assert_close(w, torch.tensor([[[0.2, 0.3, 0.5], [0.6, 0.1, 0.3]]]))  # not in place


def test_hands_refuses_a_model_without_hand_streams(tiny_synth):
    with pytest.raises(SystemExit, match="no left and right hand streams"):
        hands.hand_heads(SHIPPED / "skeleton_lstm-cs", root=tiny_synth)
    with pytest.raises(SystemExit, match="no synth.json"):
        hands.hand_heads(SHIPPED / "part_attention-cs", root=SHIPPED)
