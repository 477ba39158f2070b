"""``train --mixup``: whole-RGB training batches blended with themselves in another order, the loss
blended alike; refused, with the models that take it, for a model whose inputs do not blend."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F  # noqa: N812 (the usual PyTorch alias)

from core_models.checkpoint import load_checkpoint
from core_models.cli import build_parser
from core_models.models import MODELS, build_model
from core_models.train import (
    MIXUP_MODELS,
    RECIPES,
    TrainSettings,
    check_settings,
    mix_batch,
    mixed_loss,
    mixup_draw,
    mixup_keys,
    train,
)


def test_a_mixed_batch_is_each_clip_blended_with_its_partner_and_the_labels_stay():
    g = torch.Generator().manual_seed(0)
    batch = {"rgb": torch.rand(4, 3, 2, 5, 5, generator=g), "label": torch.tensor([0, 1, 2, 3]),
             "joints2d": torch.rand(4, 2, 25, 2, generator=g)}  # fmt: skip
    before = {k: v.clone() for k, v in batch.items()}
    order = torch.tensor([2, 0, 3, 1])
    mixed = mix_batch(batch, ("rgb",), 0.7, order)
    for i, j in enumerate(order.tolist()):
        torch.testing.assert_close(mixed["rgb"][i], 0.7 * before["rgb"][i] + 0.3 * before["rgb"][j])
    assert torch.equal(mixed["label"], before["label"]) and torch.equal(mixed["joints2d"], before["joints2d"])
    for k in batch:  # the loader's batch itself is left as it was
        assert torch.equal(batch[k], before[k]), k


class _CE(torch.nn.Module):
    def loss(self, out, batch):
        ce = F.cross_entropy(out, batch["label"])
        return ce, {"ce": float(ce)}


def test_the_loss_is_blended_as_the_clips_are():
    logits = torch.randn(4, 5, generator=torch.Generator().manual_seed(1))
    batch = {"label": torch.tensor([0, 1, 2, 3])}
    order = torch.tensor([1, 2, 3, 0])
    own, theirs = F.cross_entropy(logits, batch["label"]), F.cross_entropy(logits, batch["label"][order])
    loss, terms = mixed_loss(_CE(), logits, batch, (0.25, order))
    torch.testing.assert_close(loss, 0.25 * own + 0.75 * theirs)
    assert terms["ce"] == pytest.approx(float(0.25 * own + 0.75 * theirs))
    plain, _ = mixed_loss(_CE(), logits, batch, None)
    torch.testing.assert_close(plain, own)


def test_a_steps_draw_is_its_own_and_repeats():
    lam, order = mixup_draw(16, 0.2, (0, 0, 5))
    again = mixup_draw(16, 0.2, (0, 0, 5))
    assert lam == again[0] and torch.equal(order, again[1])
    assert 0.0 <= lam <= 1.0 and sorted(order.tolist()) == list(range(16))
    others = [mixup_draw(16, 0.2, (0, 0, step)) for step in range(6, 12)]
    assert len({lam, *(o[0] for o in others)}) == 7
    # Beta(0.2, 0.2) puts most draws near 0 or 1: most steps stay close to one clip
    shares = [mixup_draw(16, 0.2, (1, 0, s))[0] for s in range(400)]
    assert sum(min(s, 1 - s) < 0.1 for s in shares) > 200


def test_the_option_is_checked_and_no_recipe_mixes_unless_asked():
    args = build_parser().parse_args(["train", "--model", "i3d", "--out", "x", "--mixup", "0.2"])
    assert args.mixup == 0.2
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--model", "i3d", "--out", "x", "--mixup", "-1"])
    with pytest.raises(SystemExit, match="mixup"):
        check_settings(TrainSettings(model="i3d", out="x", mixup=math.nan).resolved())
    for model, presets in RECIPES.items():
        for preset in presets:
            assert TrainSettings(model=model, out="x", preset=preset).resolved().mixup == 0.0, (model, preset)
    assert TrainSettings(model="i3d", out="x", mixup=0.4).resolved().mixup == 0.4


def test_only_models_reading_whole_rgb_clips_take_it():
    takers = [name for name in MODELS if mixup_keys(build_model(name, "cpu", num_classes=14))]
    assert takers == list(MIXUP_MODELS) == ["i3d", "i3d_nl"]


def test_a_model_whose_inputs_do_not_blend_is_refused_by_name(tmp_path):
    s = TrainSettings(model="part_attention", out=str(tmp_path / "run"), root=str(tmp_path / "data"), steps=1,
                      batch_size=4, workers=0, cache_dir="", mixup=0.2, evaluate=False)  # fmt: skip
    with pytest.raises(SystemExit, match="part_attention.*i3d, i3d_nl"):
        train(s)
    assert not (tmp_path / "run").exists()  # refused before anything is written


def _run(root: Path, out: Path, mixup: float) -> dict[str, torch.Tensor]:
    s = TrainSettings(model="i3d", out=str(out), root=str(root), steps=3, batch_size=4, workers=0, limit=8,
                      cache_dir=str(out.parent / "cache"), mixup=mixup, evaluate=False, patience=0,
                      overrides={"frame_size": 32, "num_frames": 8, "dropout": 0.0})  # fmt: skip
    return load_checkpoint(train(s) / "last.pt")["state_dict"]


def test_a_mixed_run_trains_repeatably_and_differs_from_a_plain_one(tiny_synth, tmp_path):
    a = _run(tiny_synth, tmp_path / "a", 0.4)
    b = _run(tiny_synth, tmp_path / "b", 0.4)
    plain = _run(tiny_synth, tmp_path / "plain", 0.0)
    assert a.keys() == b.keys() == plain.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], plain[k]) for k in a if a[k].is_floating_point())
