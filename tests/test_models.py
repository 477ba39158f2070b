"""Contract tests over every model of the dict: shapes, attention, backward, no NaN, presets."""

from __future__ import annotations

import json

import pytest
import torch

from core_models.cli import main
from core_models.data.layouts import LAYOUTS, NTU25
from core_models.losses import doubly_stochastic, entropy
from core_models.models import MODELS, PRESETS, ModelOutput, build_model, check_output, describe
from core_models.models.output import uniform_attention

K = 5
B = 2
# The paper presets read 64 x 224^2 clips and 224^2 crops; on CPU the contract is checked at a
# reduced size (every backbone is size-agnostic), keeping each preset's own widths and depths.
SMALL = {"paper": {"frames": 8, "size": 32}, "cpu": None}


def make_batch(model, preset: str, *, batch: int = B) -> dict[str, torch.Tensor]:
    spec = model.input_spec
    frames, size = spec.num_frames, spec.frame_size
    crop = spec.crops.size if spec.crops else None
    if SMALL[preset]:
        frames, size = SMALL[preset]["frames"], SMALL[preset]["size"]
        crop = size if crop else None
    g = torch.Generator().manual_seed(0)
    out: dict[str, torch.Tensor] = {"label": torch.randint(0, K, (batch,), generator=g)}
    if "rgb" in model.inputs:
        out["rgb"] = torch.rand(batch, 3, frames, size, size, generator=g) * 2 - 1
    if "crops" in model.inputs:
        parts = len(spec.crops.parts)
        out["crops"] = torch.rand(batch, parts, 3, frames, crop, crop, generator=g) * 2 - 1
    if "skeleton" in model.inputs:
        j = model.config.num_joints if hasattr(model.config, "num_joints") else NTU25.num_joints
        out["skeleton"] = torch.randn(batch, spec.skeleton_frames, spec.num_persons, j, 3, generator=g)
    if "flow" in model.inputs:  # K stacks of L flow fields: (B, K * 2L, S, S) in [-1, 1]
        out["flow"] = (
            torch.rand(batch, 2 * spec.flow_frames * spec.flow_stacks, size, size, generator=g) * 2 - 1
        )
    return out


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("name", list(MODELS))
def test_contract_shapes_attention_backward(name, preset):
    torch.manual_seed(0)
    model = build_model(name, preset, num_classes=K)
    batch = make_batch(model, preset)
    model.train()
    out = model(batch)
    check_output(out, B, K)
    assert set(out.attention) == set(model.attention_kinds)
    assert out.features is not None and out.features.shape[0] == B  # for the OOD score
    total, terms = model.loss(out, batch)
    assert torch.isfinite(total) and "ce" in terms
    total.backward()
    for pname, p in model.named_parameters():
        if p.requires_grad:
            assert p.grad is not None, f"{name}/{preset}: no gradient reaches {pname}"
            assert torch.isfinite(p.grad).all(), f"{name}/{preset}: non-finite gradient in {pname}"


@pytest.mark.parametrize("name", list(MODELS))
def test_eval_is_deterministic_and_batch_independent(name):
    model = build_model(name, "cpu", num_classes=K).eval()
    batch = make_batch(model, "cpu", batch=3)
    with torch.no_grad():
        full = model(batch).logits
        one = model({k: v[:1] for k, v in batch.items()}).logits
    torch.testing.assert_close(full[:1], one, atol=1e-4, rtol=1e-4)


# The steerable models whose trunk no attention override changes (STN's grid places what its trunk
# reads; the non-local blocks sit inside I3D's trunk).
REUSING = ["part_attention", "separable_sta", "temporal_granularity", "glimpse_clouds", "soft_attention_lstm",
           "self_attention"]  # fmt: skip


@pytest.mark.parametrize("name", REUSING)
def test_a_replay_that_reuses_the_trunk_gives_what_a_full_pass_gives(name):
    """Evaluate's interventions, the what-if table and ``hands`` replay a batch with other attention
    and hand back what the first pass reported as reusable; every output must be the full pass's,
    to the bit, and the handed-back tensors must be what the model reads."""
    from core_models.evaluate import _steerable
    from core_models.models.output import reuse_keys, steer_key

    torch.manual_seed(0)
    model = build_model(name, "cpu", num_classes=K).eval()
    if name == "glimpse_clouds":
        model.stage = "glimpses"  # the glimpses classify in the second stage
    batch = make_batch(model, "cpu", batch=3)
    with torch.no_grad():
        out = model(batch)
        assert out.reusable, f"{name} reports nothing to reuse"
        trunk = reuse_keys(out)
        for n in model.steerable:
            own = _steerable(out, n)
            for other in (uniform_attention(n, own), own.flip(0)):
                steered = {**batch, steer_key(n): other}
                full, replay = model(steered), model({**steered, **trunk})
                assert torch.equal(replay.logits, full.logits), n
                for kind, weights in full.attention.items():
                    if torch.is_tensor(weights):
                        assert torch.equal(replay.attention[kind], weights), (n, kind)
        shifted = {k: v + 1.0 for k, v in trunk.items()}
        assert not torch.equal(model({**batch, **shifted}).logits, out.logits)
    model.train()
    assert not model(batch).reusable  # a training step keeps no graph beyond itself


SKELETON_MODELS = [n for n in MODELS if "skeleton" in build_model(n, "cpu", num_classes=K).inputs]


@pytest.mark.parametrize("name", SKELETON_MODELS)
def test_models_with_skeletons_follow_the_layout(name):
    model = build_model(name, "cpu", num_classes=K, layout=LAYOUTS["lcr13"])
    batch = make_batch(model, "cpu")
    assert batch["skeleton"].shape[3] == 13
    check_output(model.eval()(batch), B, K)


def test_unknown_names_are_clear_errors():
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        build_model("nope", num_classes=3)
    with pytest.raises(ValueError, match="unknown preset 'huge'"):
        build_model("i3d", "huge", num_classes=3)


@pytest.mark.parametrize("name", ["skeleton_lstm", "self_attention", "stn"])
def test_features_are_what_the_classifier_reads(name):
    model = build_model(name, "cpu", num_classes=K).eval()
    with torch.no_grad():
        out = model(make_batch(model, "cpu"))
    torch.testing.assert_close(model.head(out.features), out.logits)


def test_check_output_rejects_broken_outputs():
    logits = torch.zeros(2, 3)
    check_output(ModelOutput(logits, {"parts": torch.full((2, 3), 1 / 3)}), 2, 3)
    with pytest.raises(ValueError, match="logits must be"):
        check_output(ModelOutput(torch.zeros(2, 4)), 2, 3)
    with pytest.raises(ValueError, match="unknown attention kind"):
        check_output(ModelOutput(logits, {"heatmap": torch.ones(2, 3)}), 2, 3)
    with pytest.raises(ValueError, match="must sum to 1"):
        check_output(ModelOutput(logits, {"temporal": torch.ones(2, 4)}), 2, 3)
    with pytest.raises(ValueError, match=r"segments\[3\] must have 3 columns"):
        check_output(ModelOutput(logits, {"segments": {3: torch.full((2, 2), 0.5)}}), 2, 3)
    check_output(ModelOutput(logits, {"nonlocal": {"Mixed_4b": torch.full((2, 6, 3), 1 / 3)}}), 2, 3)
    with pytest.raises(ValueError, match="nonlocal must be a non-empty dict"):
        check_output(ModelOutput(logits, {"nonlocal": torch.full((2, 6, 3), 1 / 3)}), 2, 3)
    with pytest.raises(ValueError, match=r"nonlocal\[Mixed_4b\] must sum to 1"):
        check_output(ModelOutput(logits, {"nonlocal": {"Mixed_4b": torch.ones(2, 6, 3)}}), 2, 3)
    with pytest.raises(ValueError, match="NaN"):
        check_output(ModelOutput(torch.full((2, 3), float("nan"))), 2, 3)
    with pytest.raises(ValueError, match="features must be"):
        check_output(ModelOutput(logits, features=torch.zeros(3, 4)), 2, 3)


def test_regularisers():
    uniform = torch.full((2, 6, 3), 1 / 3)
    assert doubly_stochastic(uniform).item() == pytest.approx(0.0, abs=1e-6)
    stuck = torch.zeros(2, 6, 3)
    stuck[..., 0] = 1.0  # one part takes all the weight at every step
    assert doubly_stochastic(stuck).item() == pytest.approx(4.0 + 1.0 + 1.0)
    assert entropy(uniform).item() == pytest.approx(torch.log(torch.tensor(3.0)).item(), rel=1e-5)
    assert entropy(stuck).item() == pytest.approx(0.0, abs=1e-6)


def test_paper_i3d_size_matches_the_published_network():
    # Single-stream RGB I3D: 12M parameters in the paper's table; ours 12.29M + the classifier.
    info = describe("i3d", "paper", num_classes=400)
    assert 12.0e6 < info["parameters"] < 12.8e6


def test_models_command_reports_every_model(capsys):
    assert main(["models", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {(r["model"], r["preset"]) for r in rows} == {(m, p) for m in MODELS for p in PRESETS}
    for r in rows:
        assert r["parameters"] > 0 and r["inputs"] and isinstance(r["attention"], list)
    assert main(["models"]) == 0
    assert "skeleton_lstm" in capsys.readouterr().out
