"""P-I3D (core_models.models.part_attention): contract, loss terms, and attention that learns."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F  # noqa: N812

from core_models.checkpoint import compact_state
from core_models.data.layouts import NTU25
from core_models.models.output import check_output, steer_key
from core_models.models.part_attention import (
    DEFAULT_PARTS,
    PartAttention,
    PartAttentionConfig,
    part_attention,
)

K = 5
B = 2
# The paper preset reads 64 x 224^2 crops; on CPU it is checked at 8 x 32^2 (I3D is size-agnostic).
SMALL = {"paper": (8, 32), "cpu": None}


def make_batch(model: PartAttention, *, batch: int = B, frames_size=None, seed: int = 0):
    spec = model.input_spec
    frames, size = frames_size or (spec.num_frames, spec.crops.size)
    g = torch.Generator().manual_seed(seed)
    c = model.config
    return {
        "crops": torch.rand(batch, len(c.parts), 3, frames, size, size, generator=g) * 2 - 1,
        "skeleton": torch.randn(batch, spec.skeleton_frames, c.num_persons, c.num_joints, 3, generator=g),
        "label": torch.randint(0, c.num_classes, (batch,), generator=g),
    }


def tiny(**overrides) -> PartAttention:
    """A P-I3D small enough to train in seconds on CPU."""
    base = dict(
        num_classes=2, num_joints=2, num_persons=1, width=0.0625, num_frames=4, crop_size=16,
        fusion_endpoint="Mixed_3c", lstm_hidden=16, lstm_layers=1, timesteps=4, attention_hidden=16,
        dropout=0.0, pose_dropout=0.0,
    )  # fmt: skip
    base.update(overrides)
    return PartAttention(PartAttentionConfig(**base))


@pytest.mark.parametrize("per_step", [False, True])
@pytest.mark.parametrize("preset", ["paper", "cpu"])
def test_contract(preset, per_step):
    torch.manual_seed(0)
    timed = per_step and preset == "cpu"
    # without time attention the cpu preset's steps have no shares to learn (step_target="read")
    untimed = {"step_target": "read", "step_reads": 0.0, "step_sharpness": 1.0, "part_pool": "mean"}
    steps = {"part_pool": "attended"} if timed else untimed if preset == "cpu" else {"part_pool": "mean"}
    model = part_attention(preset, num_classes=K, per_step=per_step, attend_time=timed, **steps)
    kinds = ("parts", "temporal") if model.config.attend_time else ("parts",)
    assert model.inputs == ("crops", "skeleton") and model.attention_kinds == kinds
    spec = model.input_spec
    # The paper's three crops; the cpu preset reads the two hands (see part_attention.py).
    parts = ("left_hand", "right_hand") if preset == "cpu" else ("left_hand", "right_hand", "full_body")
    assert spec.crops.parts == parts
    assert spec.num_frames == model.config.num_frames and spec.crops.size == model.config.crop_size
    batch = make_batch(model, frames_size=SMALL[preset])
    out = model(batch)
    check_output(out, B, K)
    alpha = out.attention["parts"]
    P = len(model.config.parts)
    if per_step:
        assert alpha.dim() == 3 and alpha.shape[0] == B and alpha.shape[2] == P
    else:
        assert alpha.shape == (B, P)
    assert out.aux["part_logits"].shape == (B, P, K)
    total, terms = model.loss(out, batch)
    streams = {"rgb_ce", "pose_ce"} if model.config.pose_scores else set()
    streams |= {"choice"} if model.config.hand_read == "choose" else set()
    streams |= {"steps", "step_reads"} if model.config.step_target == "explains" else set()
    assert torch.isfinite(total) and set(terms) == {"ce", "part_ce", "attention"} | streams
    total.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None, f"no gradient reaches {name}"
        assert torch.isfinite(p.grad).all(), f"non-finite gradient in {name}"


def test_presets_and_layout_parts():
    paper, cpu = part_attention("paper", num_classes=14), part_attention("cpu", num_classes=14)
    assert paper.config.width == 1.0 and paper.config.crop_size == 224 and paper.config.num_frames == 64
    assert paper.config.lstm_hidden == 512 and paper.config.timesteps == 20
    assert cpu.config.width <= 0.25 and 32 <= cpu.config.crop_size <= 48 and cpu.config.num_frames == 16
    assert cpu.config.lstm_hidden == 128
    # Any parts the layout names work; the crops follow the config's order.
    model = part_attention(
        "cpu", num_classes=3, layout=NTU25, parts=("head", "left_hand", "right_hand", "full_body")
    )
    assert model.input_spec.crops.parts == ("head", "left_hand", "right_hand", "full_body")
    with pytest.raises(ValueError, match="no parts"):
        part_attention("cpu", num_classes=3, parts=("tail",), hand_read="mix", hand_motion=False)
    with pytest.raises(ValueError, match="unknown preset"):
        part_attention("huge", num_classes=3)


def test_input_checks_and_four_parts():
    model = tiny(parts=("left_hand", "right_hand", "head", "full_body"))
    batch = make_batch(model)
    out = model(batch)
    check_output(out, B, 2)
    assert out.attention["parts"].shape == (B, 4)
    batch["crops"] = batch["crops"][:, :3]
    with pytest.raises(ValueError, match="crops must be"):
        model(batch)


@pytest.mark.parametrize("per_step", [False, True])
def test_loss_terms(per_step):
    torch.manual_seed(0)
    model = tiny(per_step=per_step, num_frames=8)
    batch = make_batch(model, batch=4)
    out = model(batch)
    P = len(model.config.parts)
    uniform = torch.full_like(out.attention["parts"], 1.0 / P)
    assert model.attention_penalty(uniform).item() == pytest.approx(0.0, abs=1e-6)
    peaked = torch.zeros_like(uniform)
    peaked[..., 1] = 1.0
    assert model.attention_penalty(peaked).item() > 0.5
    if not per_step:
        assert model.attention_penalty(peaked).item() == pytest.approx(math.log(P), abs=1e-4)

    total, terms = model.loss(out, batch)
    c = model.config
    expected = terms["ce"] + c.aux_weight * terms["part_ce"] + c.attention_weight * terms["attention"]
    assert total.item() == pytest.approx(expected, rel=1e-5)
    assert terms["ce"] > 0 and terms["part_ce"] > 0 and terms["attention"] >= 0
    total.backward()
    branch = model.attention
    for p in [branch.score.weight, branch.hidden.weight, *branch.pose.parameters()]:
        assert p.grad is not None and p.grad.abs().sum() > 0, "the attention branch must train"


def fit(model: PartAttention, batches, *, steps: int) -> None:
    """``steps`` Adam steps (lr 0.01) of the model's own loss on ``batches()``."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(steps):
        batch = batches()
        total, _ = model.loss(model(batch), batch)
        opt.zero_grad()
        total.backward()
        opt.step()


def _signal_batch(n: int, g: torch.Generator, frames: int, size: int) -> dict[str, torch.Tensor]:
    """Noise crops; only the right hand (part 1) shows a bright (class 1) or dark (class 0) patch.

    The other parts show the same kind of patch with a random sign, so mixing them into the fused
    map hurts. The skeleton is constant: clip-level attention must learn a bias to the right hand.
    """
    y = torch.randint(0, 2, (n,), generator=g)
    crops = torch.rand(n, 3, 3, frames, size, size, generator=g) * 0.5 - 0.25
    lo, hi = size // 4, 3 * size // 4
    signs = torch.randint(0, 2, (n, 3), generator=g).float() * 2 - 1
    signs[:, 1] = y.float() * 2 - 1
    crops[..., lo:hi, lo:hi] += 0.75 * signs[:, :, None, None, None, None]
    return {"crops": crops, "skeleton": torch.zeros(n, 4, 1, 2, 3), "label": y}


def test_attention_moves_to_the_informative_part():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    model = tiny()
    frames, size = model.config.num_frames, model.config.crop_size
    probe = _signal_batch(8, g, frames, size)

    def right_hand_attention() -> float:
        model.eval()
        with torch.no_grad():
            alpha = model(probe).attention["parts"]  # (8, 3)
        model.train()
        return alpha[:, 1].mean().item()

    initial = right_hand_attention()
    fit(model, lambda: _signal_batch(16, g, frames, size), steps=30)
    final = right_hand_attention()
    assert abs(initial - 1 / 3) < 0.05
    assert final > 0.6 and final > initial + 0.25, (initial, final)


def test_hand_crops_at_the_probe_scale_and_old_checkpoints_at_their_own():
    """The cpu preset cuts hand crops at 0.15 of the person's height, where the probe's CNN on hand
    crops tells the held objects apart; checkpoints from before the field keep 0.12."""
    from dataclasses import asdict

    from core_models.checkpoint import build_model_with
    from core_models.models.part_attention import part_attention
    from core_models.synth.probe import HAND_CROPS

    model = part_attention("cpu", num_classes=5)
    assert model.input_spec.crops.hand_ratio == HAND_CROPS.hand_ratio == 0.15
    assert not model.config.pose_scores
    saved = {k: v for k, v in asdict(model.config).items() if k != "hand_ratio"}
    old = build_model_with(
        "part_attention", "cpu", num_classes=5, layout_name="ntu25", config=saved, legacy=True
    )
    assert old.input_spec.crops.hand_ratio == 0.12


def test_shared_hands_are_one_trunk_under_two_names():
    tied, apart = tiny(shared_hands=True), tiny()
    left, right = tied.parts["left_hand"], tied.parts["right_hand"]
    for (name, a), (_, b) in zip(left.named_parameters(), right.named_parameters(), strict=True):
        assert a is b, name
    for (name, a), (_, b) in zip(left.named_buffers(), right.named_buffers(), strict=True):
        assert a is b, name
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(apart) - count(tied) == count(right) > 0
    # one optimiser step moves both names alike, and a state dict round trip keeps them one trunk
    batch = make_batch(tied, frames_size=(4, 16))
    opt = torch.optim.SGD(tied.parameters(), lr=0.1)
    loss, _ = tied.loss(tied(batch), batch)
    loss.backward()
    opt.step()
    for a, b in zip(left.parameters(), right.parameters(), strict=True):
        assert torch.equal(a, b)
    fresh = tiny(shared_hands=True)
    fresh.load_state_dict(tied.state_dict())
    stem = "Conv3d_1a_7x7.conv.weight"
    assert fresh.parts["left_hand"].get_parameter(stem) is fresh.parts["right_hand"].get_parameter(stem)
    with pytest.raises(ValueError, match="shared_hands needs both"):
        tiny(shared_hands=True, parts=("right_hand", "full_body"))


def test_a_shipped_file_stores_the_shared_trunk_once(tmp_path):
    tied, apart = tiny(shared_hands=True), tiny()
    sizes = {}
    for name, model in (("tied", tied), ("apart", apart)):
        torch.save(compact_state(model.state_dict()), tmp_path / f"{name}.pt")
        sizes[name] = (tmp_path / f"{name}.pt").stat().st_size
    hand = sum(p.numel() for p in apart.parts["right_hand"].parameters()) * 2  # float16 bytes
    assert sizes["apart"] - sizes["tied"] > 0.9 * hand
    state = torch.load(tmp_path / "tied.pt", weights_only=True)
    stem = "Conv3d_1a_7x7.conv.weight"
    left, right = (state[f"parts.{h}.{stem}"] for h in ("left_hand", "right_hand"))
    assert left.dtype == torch.float16 and left.data_ptr() == right.data_ptr()
    fresh = tiny(shared_hands=True)
    fresh.load_state_dict(state)
    for k, v in tied.state_dict().items():
        assert torch.allclose(fresh.state_dict()[k].float(), v.float(), atol=1e-2), k


def _handed_batch(n: int, g: torch.Generator, frames: int, size: int) -> dict[str, torch.Tensor]:
    """The class shows in the acting hand's crop, left or right per clip; the skeleton says which.

    The idle hand and the body show the same kind of patch with a random sign, so a fixed mix of
    the parts is misled on every clip, whichever hand acts.
    """
    y = torch.randint(0, 2, (n,), generator=g)
    acting = torch.randint(0, 2, (n,), generator=g)  # 0: left hand, 1: right hand
    crops = torch.rand(n, 3, 3, frames, size, size, generator=g) * 0.5 - 0.25
    lo, hi = size // 4, 3 * size // 4
    signs = torch.randint(0, 2, (n, 3), generator=g).float() * 2 - 1
    signs[torch.arange(n), acting] = y.float() * 2 - 1
    crops[..., lo:hi, lo:hi] += 0.75 * signs[:, :, None, None, None, None]
    skeleton = torch.zeros(n, 4, 1, 2, 3)
    skeleton[..., 0, 0] = acting.float()[:, None, None] * 2 - 1  # joint 0's x: which hand moves
    return {"crops": crops, "skeleton": skeleton, "label": y, "acting": acting}


def test_shared_hands_attention_follows_the_acting_hand_on_each_clip():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    model = tiny(shared_hands=True)
    frames, size = model.config.num_frames, model.config.crop_size
    probe = _handed_batch(32, g, frames, size)
    fit(model, lambda: _handed_batch(16, g, frames, size), steps=40)
    model.eval()
    with torch.no_grad():
        alpha = model(probe).attention["parts"]  # (32, 3)
    on_acting = alpha[torch.arange(32), probe["acting"]]
    for hand in (0, 1):  # left-acting and right-acting clips alike
        mine = probe["acting"] == hand
        assert on_acting[mine].mean() > 0.6, (hand, alpha[mine].mean(0))


def test_hand_motion_scores_swap_under_a_mirror_and_old_files_rebuild_without_them():
    from dataclasses import asdict

    from core_models.checkpoint import build_model_with
    from core_models.data.datasets import mirror_item

    torch.manual_seed(0)
    model = part_attention("cpu", num_classes=K, hand_motion=True, parts=DEFAULT_PARTS).eval()
    scorer = model.attention.hand_motion
    c = model.config
    assert (c.left_hand_joint, c.right_hand_joint) == (7, 11)  # NTU25's hand crop centres
    for p in scorer.out.parameters():  # scores far from zero, so a swap is visible
        torch.nn.init.normal_(p, std=1.0)
    skeleton = torch.randn(3, model.input_spec.skeleton_frames, c.num_persons, c.num_joints, 3)
    mirrored = torch.stack(
        [mirror_item({"skeleton": s}, NTU25, model.input_spec)["skeleton"] for s in skeleton]
    )
    with torch.no_grad():
        for steps in (0, 4):
            a, b = scorer(skeleton, steps), scorer(mirrored, steps)
            assert a.shape == ((3, 3) if not steps else (3, 4, 3))
            assert not torch.allclose(a[..., 0], a[..., 1])
            assert torch.allclose(a[..., 0], b[..., 1], atol=1e-5) and torch.allclose(
                a[..., 1], b[..., 0], atol=1e-5
            )
            assert torch.all(a[..., 2] == 0)  # the full body's logit is the pose branch's alone
    saved = {k: v for k, v in asdict(model.config).items() if k not in ("hand_motion", "left_hand_joint")}
    old = build_model_with(
        "part_attention", "cpu", num_classes=K, layout_name="ntu25", config=saved, legacy=True
    )
    assert old.attention.hand_motion is None
    with pytest.raises(ValueError, match="hand_motion needs both"):
        tiny(hand_motion=True, parts=("right_hand", "full_body"))


def test_either_hand_aux_loss_does_not_ask_the_idle_hand():
    """``hand_aux="either"``: the hands answer together (logsumexp over them), the full body alone;
    an idle hand that is unsure costs nothing when the other hand shows the class."""
    torch.manual_seed(0)
    model = tiny(shared_hands=True, hand_aux="either")
    K = model.config.num_classes
    labels = torch.tensor([0, 1])
    sure, unsure = torch.full((K,), -10.0), torch.zeros(K)
    sure[0] = 10.0
    logits = torch.stack([torch.stack([unsure, sure, sure]), torch.stack([sure, unsure, unsure])])
    each = tiny(shared_hands=True)
    # clip 0: right hand sure of class 0, left hand unsure: low either way for "either"
    either_loss = model.part_loss(logits[:1], labels[:1])
    assert either_loss.item() < 0.1
    # "each" asks the idle hand too: its ln 2 of doubt counts for one of the three terms
    assert each.part_loss(logits[:1], labels[:1]).item() == pytest.approx(math.log(2) / 3, abs=1e-3)
    # by hand: the hands' logsumexp and the full body, each a cross-entropy, averaged
    lse = torch.logsumexp(logits[:, :2], dim=1)
    expected = (F.cross_entropy(lse, labels) + F.cross_entropy(logits[:, 2], labels)) / 2
    torch.testing.assert_close(model.part_loss(logits, labels), expected)
    batch = make_batch(model, batch=2)
    total, terms = model.loss(model(batch), batch)
    assert torch.isfinite(total) and terms["part_ce"] > 0
    with pytest.raises(ValueError, match="hand_aux must be"):
        tiny(hand_aux="both")
    with pytest.raises(ValueError, match="needs both"):
        tiny(parts=("left_hand", "full_body"), hand_aux="either")


def test_attend_time_splits_one_softmax_into_parts_per_step_and_steps():
    torch.manual_seed(0)
    with pytest.raises(ValueError, match="per_step"):
        tiny(attend_time=True)
    joint = tiny(per_step=True, attend_time=True, num_frames=8).eval()
    steps_only = tiny(per_step=True, num_frames=8).eval()
    steps_only.load_state_dict(joint.state_dict())
    assert joint.attention_kinds == joint.steerable == ("parts", "temporal")
    assert steps_only.attention_kinds == ("parts",)
    with torch.no_grad():  # a score that differs by step, so the steps' shares differ
        joint.attention.score.weight.normal_(std=1.0)
        steps_only.attention.score.weight.copy_(joint.attention.score.weight)
    batch = make_batch(joint, batch=3)
    with torch.no_grad():
        out = joint(batch)
        check_output(out, 3, 2)
        parts, temporal = out.attention["parts"], out.attention["temporal"]
        assert temporal.shape == (3, parts.shape[1]) and parts.shape[1] > 1
        torch.testing.assert_close(temporal.sum(1), torch.ones(3))
        assert (temporal.max(1).values - temporal.min(1).values).min() > 1e-3  # not uniform
        # The parts' weights per step are the per-step model's softmax over parts.
        torch.testing.assert_close(parts, steps_only(batch).attention["parts"])
        # With the steps steered to equal shares, the fused feature is the per-step model's mean.
        uniform = torch.full_like(temporal, 1 / temporal.shape[1])
        steered = joint({**batch, steer_key("temporal"): uniform})
        torch.testing.assert_close(steered.logits, steps_only(batch).logits)
        assert not torch.allclose(out.logits, steered.logits)
    # A checkpoint saved before the field existed rebuilds without it.
    assert PartAttentionConfig.LEGACY["attend_time"] is False


def test_attend_time_moves_to_the_steps_that_show_the_class():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    model = tiny(per_step=True, attend_time=True, num_frames=16, timesteps=8)

    def batch(n: int) -> dict[str, torch.Tensor]:
        # The right hand's patch tells the class in the last four of 16 frames only; before, and
        # in the other parts throughout, its sign is random. The skeleton is a clock.
        out = _signal_batch(n, g, 16, 16)
        lo, hi = 4, 12
        noise = (torch.randint(0, 2, (n,), generator=g).float() * 2 - 1) * 0.75
        sign = out["label"].float() * 2 - 1
        out["crops"][:, 1, :, :12, lo:hi, lo:hi] += (noise - 0.75 * sign)[:, None, None, None, None]
        out["skeleton"] = torch.linspace(-1, 1, 8)[None, :, None, None, None].expand(n, 8, 1, 2, 3).clone()
        return out

    probe = batch(8)

    def late_share() -> float:  # the weight of the last 3 of the 8 feature steps
        model.eval()
        with torch.no_grad():
            temporal = model(probe).attention["temporal"]  # (8, 8)
        model.train()
        return temporal[:, 5:].sum(1).mean().item()

    initial = late_share()
    fit(model, lambda: batch(16), steps=40)
    final = late_share()
    assert abs(initial - 3 / 8) < 0.05
    assert final > initial + 0.2, (initial, final)


def test_attended_part_pool_asks_each_stream_at_the_steps_the_pose_picks():
    torch.manual_seed(0)
    with pytest.raises(ValueError, match="attend_time"):
        tiny(per_step=True, part_pool="attended")
    with pytest.raises(ValueError, match="part_pool"):
        tiny(part_pool="max")
    attended = tiny(per_step=True, attend_time=True, num_frames=8, part_pool="attended").eval()
    averaged = tiny(per_step=True, attend_time=True, num_frames=8).eval()
    averaged.load_state_dict(attended.state_dict())
    with torch.no_grad():  # a score that differs by step, so the steps' shares differ
        attended.attention.score.weight.normal_(std=1.0)
        averaged.attention.score.weight.copy_(attended.attention.score.weight)
    batch = make_batch(attended, batch=3)
    with torch.no_grad():
        out, ref = attended(batch), averaged(batch)
        # Only the streams' own heads change: the fused prediction is the same model's.
        torch.testing.assert_close(out.logits, ref.logits)
        assert not torch.allclose(out.aux["part_logits"], ref.aux["part_logits"])
        # With the steps steered to equal shares, the heads read the plain mean over the steps.
        uniform = torch.full_like(out.attention["temporal"], 1 / out.attention["temporal"].shape[1])
        steered = {**batch, steer_key("temporal"): uniform}
        torch.testing.assert_close(attended(steered).aux["part_logits"], averaged(steered).aux["part_logits"])
    # The streams' loss reaches the trunks and heads, never the attention that picked the steps.
    out = attended.train()(batch)
    attended.part_loss(out.aux["part_logits"], batch["label"]).backward()
    assert all(p.grad is None or not p.grad.any() for p in attended.attention.parameters())
    assert any(p.grad is not None and p.grad.any() for p in attended.part_heads.parameters())
    assert PartAttentionConfig.LEGACY["part_pool"] == "mean"


def test_one_hand_read_gives_the_hands_weight_to_one_hand_and_still_learns_the_choice():
    from core_models.models.part_attention import one_hand

    with pytest.raises(ValueError, match="hand_read"):
        tiny(hand_read="both")
    with pytest.raises(ValueError, match="needs both"):
        tiny(hand_read="one", parts=("left_hand", "full_body"))
    w = torch.tensor([[[0.2, 0.3, 0.5], [0.6, 0.1, 0.3]]], requires_grad=True)  # (B, T', P)
    read = one_hand(w, [0, 1])
    torch.testing.assert_close(read.detach(), torch.tensor([[[0.0, 0.5, 0.5], [0.7, 0.0, 0.3]]]))
    read[..., 0].sum().backward()  # straight-through: the soft weights' gradient
    torch.testing.assert_close(w.grad, torch.tensor([[[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]]]))
    model = tiny(per_step=True, attend_time=True, num_frames=8, hand_read="one").eval()
    with torch.no_grad():
        model.attention.score.weight.normal_(std=1.0)
        parts = model(make_batch(model, batch=3)).attention["parts"]  # (B, T', P)
    assert (parts[..., :2].min(-1).values == 0).all() and (parts[..., :2].max(-1).values > 0).all()
    torch.testing.assert_close(parts.sum(-1), torch.ones(parts.shape[:2]))
    assert PartAttentionConfig.LEGACY["hand_read"] == "mix"


def test_expected_read_chooses_one_hand_per_clip_and_trains_the_choice_on_both_reads_losses():
    import torch.nn.functional as F  # noqa: N812

    from core_models.models.output import steer_key, uniform_attention

    with pytest.raises(ValueError, match="needs both"):
        tiny(hand_read="expected", parts=("left_hand", "full_body"))
    model = tiny(per_step=True, attend_time=True, num_frames=8, hand_read="expected")
    with torch.no_grad():
        model.attention.score.weight.normal_(std=1.0)
    batch = make_batch(model, batch=3)
    out = model.train()(batch)
    parts = out.attention["parts"]  # (B, T', P): the read, all of both hands' weight on one hand
    chose_left = parts[..., 0].sum(-1) > 0
    assert (parts[..., 1][chose_left] == 0).all() and (parts[..., 0][~chose_left] == 0).all()
    torch.testing.assert_close(parts.sum(-1), torch.ones(parts.shape[:2]))
    p, reads = out.aux["hand_p_left"], out.aux["hand_reads"]  # (B,), (B, 2, K)
    assert ((p >= 0.5) == chose_left).all() and reads.shape == (3, 2, 2)
    # The loss is the expected loss of the two whole reads, so it moves the choice towards the
    # read that loses less: its gradient on p is the difference of the two reads' losses.
    labels = batch["label"]
    each = [F.cross_entropy(reads[:, h], labels, reduction="none") for h in (0, 1)]
    ce = model.loss(out, batch)[1]["ce"]
    assert ce == pytest.approx(float((p * each[0] + (1 - p) * each[1]).mean().detach()), rel=1e-6)
    model.loss(out, batch)[0].backward()
    assert model.attention.score.weight.grad.abs().sum() > 0
    # Evaluation reads the chosen hand; an override of the part weights is read as given.
    model.eval()
    with torch.no_grad():
        out = model(batch)
        want = torch.where(out.aux["hand_p_left"][:, None] >= 0.5, *out.aux["hand_reads"].unbind(1))
        torch.testing.assert_close(out.logits, want)
        steered = model({**batch, steer_key("parts"): uniform_attention("parts", out.attention["parts"])})
    assert "hand_reads" not in steered.aux
    torch.testing.assert_close(steered.attention["parts"], torch.full_like(out.attention["parts"], 1 / 3))


def test_chosen_read_trains_both_reads_alike_and_the_choice_on_which_read_explains_the_label():
    model = tiny(per_step=True, attend_time=True, num_frames=8, hand_read="choose")
    with torch.no_grad():
        model.attention.score.weight.normal_(std=1.0)
    batch = make_batch(model, batch=4)
    out = model.train()(batch)
    p, reads = out.aux["hand_p_left"], out.aux["hand_reads"]  # (B,), (B, 2, K)
    p.retain_grad()
    reads.retain_grad()
    labels = batch["label"]
    total, terms = model.loss(out, batch)
    each = [F.cross_entropy(reads[:, h].detach(), labels, reduction="none") for h in (0, 1)]
    # The reads' loss is their plain mean: neither read is trained more because it is chosen.
    assert terms["ce"] == pytest.approx(float(((each[0] + each[1]) / 2).mean()), rel=1e-6)
    # The choice's target is the share of the label's probability that the left read holds.
    q = [F.softmax(reads[:, h].detach(), dim=-1).gather(1, labels[:, None])[:, 0] for h in (0, 1)]
    target = (q[0] / (q[0] + q[1])).detach()
    assert terms["choice"] == pytest.approx(float(F.binary_cross_entropy(p.detach(), target)), rel=1e-5)
    total.backward()
    onehot = F.one_hot(labels, reads.shape[-1])[:, None].to(reads.dtype)
    want = (F.softmax(reads, dim=-1) - onehot) / (2 * len(labels))  # the same for either read, any p
    torch.testing.assert_close(reads.grad, want.detach())
    # The choice moves towards the read that explains the label, and only through p.
    torch.testing.assert_close(p.grad, ((p - target) / (p * (1 - p)) / len(labels)).detach())
    assert model.attention.score.weight.grad.abs().sum() > 0


def test_hand_motion_in_the_body_frame_ignores_the_camera_azimuth():
    torch.manual_seed(0)
    model = part_attention("cpu", num_classes=K).eval()
    scorer, c = model.attention.hand_motion, model.config
    assert c.hand_motion and c.motion_frame == "body" and (c.left_hip_joint, c.right_hip_joint) == (12, 16)
    for p in scorer.out.parameters():
        torch.nn.init.normal_(p, std=1.0)
    skeleton = torch.randn(2, model.input_spec.skeleton_frames, c.num_persons, c.num_joints, 3)

    def turned(angle: float) -> torch.Tensor:  # the same clip seen from a camera turned about y
        cos, sin = math.cos(angle), math.sin(angle)
        x, y, z = skeleton.unbind(-1)
        return torch.stack([cos * x + sin * z, y, cos * z - sin * x], dim=-1)

    with torch.no_grad():
        front = scorer(skeleton, 4)
        for angle in (0.7, -1.2, 2.5):
            torch.testing.assert_close(scorer(turned(angle), 4), front, atol=1e-4, rtol=1e-4)
        # In the camera's axes (as first measured) a turned camera changes the scores.
        camera = part_attention("cpu", num_classes=K, motion_frame="camera").eval().attention.hand_motion
        camera.load_state_dict(scorer.state_dict())
        assert not torch.allclose(camera(turned(0.7), 4), camera(skeleton, 4), atol=1e-3)
    with pytest.raises(ValueError, match="motion_frame"):
        part_attention("cpu", num_classes=K, motion_frame="world")
    assert PartAttentionConfig.LEGACY["motion_frame"] == "camera"


def test_step_scores_from_each_steps_hand_speed_alone():
    """``step_scores="motion"``: the logits of the hands at each step come from how fast each hand
    moves in that step against the clip's mean, so the hand that moves, when it moves, gets the
    weight, and the pose LSTM's code of the clip does not reach them."""
    torch.manual_seed(0)
    model = part_attention("cpu", num_classes=K, step_scores="motion").eval()
    c = model.config
    skeleton = torch.zeros(B, model.input_spec.skeleton_frames, c.num_persons, c.num_joints, 3)
    half = skeleton.shape[1] // 2
    skeleton[:, half:, 0, c.right_hand_joint, 0] = torch.arange(skeleton.shape[1] - half).float() * 0.1
    with torch.no_grad():
        alpha, _, temporal = model.attention(skeleton, 4)
        model.attention.pose.lstm.weight_ih_l0.normal_()  # another pose code: nothing changes
        again, _, _ = model.attention(skeleton, 4)
    right = c.parts.index("right_hand")
    assert temporal[:, 2:].sum(1).min() > 0.5 and temporal[:, 2:].sum(1).min() > temporal[:, :2].sum(1).max()
    assert (alpha[:, 2:, right] > 0.5).all()  # when the right hand moves, the right hand
    torch.testing.assert_close(again, alpha)
    with pytest.raises(ValueError, match="step_scores"):
        part_attention("cpu", num_classes=K, step_scores="class")


def test_class_code_adversary_reads_the_steps_shares():
    """``class_code_weight``: a reader sized to the feature steps (4 in the cpu preset) names the
    class from the steps' shares; its term joins the loss outside the parts-only stage, sizing it
    leaves the trunk's batch-norm statistics alone, and it needs the steps' shares to exist."""
    torch.manual_seed(0)
    plain = part_attention("cpu", num_classes=K)
    torch.manual_seed(0)
    model = part_attention("cpu", num_classes=K, class_code_weight=0.3).train()
    assert {n: r.in_features for n, r in model.class_code.read.items()} == {"temporal": 4}
    trunk = dict(model.parts["left_hand"].named_buffers())
    for name, buf in plain.parts["left_hand"].named_buffers():
        torch.testing.assert_close(trunk[name], buf)
    batch = make_batch(model)
    total, terms = model.loss(model(batch), batch)
    assert terms["class_code"] > 0
    total.backward()
    assert all(p.grad is not None for p in model.class_code.parameters())
    model.set_stage("parts")
    assert "class_code" not in model.loss(model(batch), batch)[1]
    assert "class_code" not in plain.loss(plain(batch), batch)[1]
    with pytest.raises(ValueError, match="class_code_weight needs attend_time"):
        part_attention(
            "cpu",
            num_classes=K,
            class_code_weight=0.3,
            attend_time=False,
            part_pool="mean",
            step_target="read",
            step_reads=0.0,
            step_sharpness=1.0,
        )


def test_frame_trunk_reads_single_frames_and_keeps_each_step_to_its_own():
    """``trunk="frames"``: a 2-D CNN on every ``frame_stride``-th frame, averaged within each step."""
    torch.manual_seed(0)
    model = part_attention("cpu", num_classes=K, trunk="frames", frame_mix=False).eval()
    trunk = model.parts["left_hand"]
    right = model.parts["right_hand"]
    assert trunk is not right and trunk.net[0][0].weight is right.net[0][0].weight  # shared_hands still ties
    clip = torch.randn(1, 3, 16, 32, 32)
    with torch.no_grad():
        base = trunk.forward_features(clip)
        assert base.shape == (1, 96, 4, 4, 4) == (1, trunk.feature_channels(), *trunk.feature_shape(16, 32))
        for frame, step in ((0, None), (1, 0), (2, None), (7, 1), (15, 3)):
            moved = clip.clone()
            moved[:, :, frame] += 1.0
            changed = (trunk.forward_features(moved) - base).abs().amax(dim=(0, 1, 3, 4)) > 1e-6  # per step
            assert changed.tolist() == [s == step for s in range(4)], (frame, changed)
        out = model(make_batch(model))
    check_output(out, B, K)
    assert out.attention["parts"].shape == (B, 4, 2)
    # frame_mix: each read frame also sees the read frames beside it, so a frame at a step's edge
    # reaches the next step; unread frames still reach nothing.
    mixed = part_attention("cpu", num_classes=K, trunk="frames", frame_mix=True).eval().parts["left_hand"]
    with torch.no_grad():
        base = mixed.forward_features(clip)
        for frame, steps in ((0, []), (1, [0]), (3, [0, 1]), (5, [0, 1])):
            moved = clip.clone()
            moved[:, :, frame] += 1.0
            changed = (mixed.forward_features(moved) - base).abs().amax(dim=(0, 1, 3, 4)) > 1e-6
            assert changed.tolist() == [s in steps for s in range(4)], (frame, changed)
    # step_mix: each step's map also reads its neighbouring steps', so a frame reaches three steps.
    stepped = part_attention("cpu", num_classes=K, trunk="frames", frame_mix=False, step_mix=True).eval()
    stepped = stepped.parts["left_hand"]
    with torch.no_grad():
        base = stepped.forward_features(clip)
        for frame, steps in ((0, []), (7, [0, 1, 2]), (15, [2, 3])):
            moved = clip.clone()
            moved[:, :, frame] += 1.0
            changed = (stepped.forward_features(moved) - base).abs().amax(dim=(0, 1, 3, 4)) > 1e-6
            assert changed.tolist() == [s in steps for s in range(4)], (frame, changed)
    with pytest.raises(ValueError, match="frame_mix and step_mix need"):
        part_attention("cpu", num_classes=K, trunk="i3d", frame_mix=False, step_mix=True)
    with pytest.raises(ValueError, match="num_frames divisible by 4 \\* frame_stride"):
        part_attention("cpu", num_classes=K, trunk="frames", frame_stride=3)
    with torch.no_grad():  # another clip length keeps 4 frames to a step
        assert trunk.forward_features(torch.randn(1, 3, 8, 32, 32)).shape == (1, 96, 2, 4, 4)
        with pytest.raises(ValueError, match="a multiple of 8 frames"):
            trunk.forward_features(torch.randn(1, 3, 12, 32, 32))
    with pytest.raises(ValueError, match="trunk must be"):
        part_attention("cpu", num_classes=K, trunk="resnet")


@pytest.mark.parametrize("mix", ["frame_mix", "step_mix"])
def test_a_still_clip_reads_the_same_at_every_step_whichever_step_the_weight_is_on(mix):
    """``mix_padding="replicate"`` (the ``cpu`` preset): past the clip's ends the temporal mixing
    reads the end frame again, so a clip of one repeated frame gives every step the same map and
    the read does not change when all the steps' weight moves from the first step to the last.
    With torch's zero padding the end steps carry a mark of their place whatever they show: the
    weights could tell the head which step they chose, a class code."""
    torch.manual_seed(0)
    flags = {"frame_mix": mix == "frame_mix", "step_mix": mix == "step_mix"}
    assert PartAttentionConfig.LEGACY["mix_padding"] == "zeros"  # what the checkpoints before it trained as
    assert part_attention("cpu", num_classes=K).config.mix_padding == "replicate"
    still = torch.rand(1, 3, 1, 32, 32).repeat(1, 1, 16, 1, 1)
    reads = {}
    for padding in ("replicate", "zeros"):
        model = part_attention("cpu", num_classes=K, mix_padding=padding, **flags).eval()
        with torch.no_grad():
            maps = model.parts["left_hand"].forward_features(still)  # (1, C, 4 steps, h, w)
            moved = (maps - maps[:, :, 1:2]).abs().amax(dim=(0, 1, 3, 4))  # per step, against step 2
            batch = make_batch(model, batch=1)
            batch["crops"] = still[:, None].expand(1, 2, 3, 16, 32, 32).clone()
            first, last = torch.eye(4)[[0]], torch.eye(4)[[3]]
            reads[padding] = [model({**batch, steer_key("temporal"): w}).logits for w in (first, last)]
        if padding == "replicate":
            assert moved.max() < 1e-5, moved
        else:
            assert moved[0] > 1e-3 and moved[3] > 1e-3 and moved[2] < 1e-5, moved
    torch.testing.assert_close(*reads["replicate"])
    assert not torch.allclose(*reads["zeros"])
    with pytest.raises(ValueError, match="mix_padding must be"):
        part_attention("cpu", num_classes=K, mix_padding="circular")


def test_steps_that_explain_the_label_take_the_weight_and_the_read_takes_them_as_given():
    """``step_target="explains"``: the steps' shares learn which step's read alone holds the label."""
    logits = torch.zeros(1, 4, 3)
    logits[0, 2, 1] = 4.0  # step 2 alone says class 1
    shares = torch.full((1, 4), 0.25, requires_grad=True)
    loss = PartAttention.steps_loss(logits, shares, torch.tensor([1]))
    target = torch.softmax(F.log_softmax(logits, -1)[0, :, 1], 0)
    assert loss.item() == pytest.approx(-(target * shares.log()).sum().item())
    loss.backward()
    assert shares.grad[0].argmin() == 2  # descending the loss raises step 2's share most
    # step_sharpness g: the target p_t(y)^g, all on step 2 as g grows
    on_two = torch.tensor([[0.1, 0.1, 0.7, 0.1]])
    soft, sharp = (PartAttention.steps_loss(logits, on_two, torch.tensor([1]), g) for g in (1.0, 50.0))
    assert sharp.item() == pytest.approx(-math.log(0.7), rel=1e-4) and soft > sharp + 0.3
    with pytest.raises(ValueError, match="step_sharpness needs"):
        tiny(per_step=True, attend_time=True, step_sharpness=2.0)
    with pytest.raises(ValueError, match="step_sharpness must be"):
        tiny(per_step=True, attend_time=True, step_target="explains", step_sharpness=0.5)
    # step_reads: each step's read asked for the label as much as it explains it.
    reads = logits.clone().requires_grad_(True)
    PartAttention.step_reads_loss(reads, torch.tensor([1])).backward()
    p_y = torch.softmax(logits, -1)[0, :, 1]
    # each step's label logit pushed up by its share of the label's probability (the rest fixed)
    assert torch.allclose(reads.grad[0, :, 1], -(p_y / p_y.sum()) * (1 - p_y), atol=1e-6)
    torch.manual_seed(0)
    model = tiny(num_classes=3, per_step=True, attend_time=True, step_target="explains").train()
    batch = make_batch(model, batch=3)
    out = model(batch)
    temporal, step_logits = out.attention["temporal"], out.aux["step_logits"]
    assert not temporal.requires_grad and out.aux["own_steps"].requires_grad
    # The head is linear, so the read's logits are the steps' own logits under the shares.
    assert torch.allclose((temporal[..., None] * step_logits).sum(1), out.logits, atol=1e-5)
    total, terms = model.loss(out, batch)
    assert "steps" in terms and torch.isfinite(total)
    model.eval()  # the step reads at test too: evaluate scores where they put the label
    with torch.no_grad():
        out = model(batch)
    assert torch.allclose((out.attention["temporal"][..., None] * out.aux["step_logits"]).sum(1), out.logits,
                          atol=1e-5)  # fmt: skip
    assert "step_logits" not in tiny(num_classes=3, per_step=True, attend_time=True).eval()(batch).aux
    with pytest.raises(ValueError, match="step_target='explains' needs"):
        tiny(step_target="explains")
    with pytest.raises(ValueError, match="step_reads needs"):
        tiny(per_step=True, attend_time=True, step_reads=1.0)
    model = tiny(num_classes=3, per_step=True, attend_time=True, step_target="explains", step_reads=1.0)
    out = model.train()(batch)
    assert out.aux["step_logits"].requires_grad and "step_reads" in model.loss(out, batch)[1]


def test_read_weight_zero_leaves_the_trunk_to_the_steps_own_reads():
    """``read_weight=0``: the fused read's loss adds nothing; the trunk learns from the step reads."""
    kw = dict(num_classes=3, per_step=True, attend_time=True, step_target="explains", step_reads=1.0)
    with pytest.raises(ValueError, match="read_weight below 1 needs"):
        tiny(num_classes=3, per_step=True, attend_time=True, step_target="explains", read_weight=0.5)
    with pytest.raises(ValueError, match="read_weight must be"):
        tiny(**kw, read_weight=1.5)
    torch.manual_seed(0)
    full, mil = tiny(**kw).train(), tiny(**kw, read_weight=0.0).train()
    mil.load_state_dict(full.state_dict())
    batch = make_batch(full, batch=3)
    torch.manual_seed(1)
    out_full = full(batch)
    total_full, terms = full.loss(out_full, batch)
    torch.manual_seed(1)
    out_mil = mil(batch)
    total_mil, terms_mil = mil.loss(out_mil, batch)
    assert terms_mil["ce"] == pytest.approx(terms["ce"])  # still reported
    # the totals differ by exactly the read's cross-entropy
    assert (total_full - total_mil).item() == pytest.approx(terms["ce"], rel=1e-5)


@pytest.mark.parametrize("context", [False, True])
def test_step_context_lets_a_step_see_the_frames_after_it(context):
    """The pose LSTM reads forward, so without ``step_context`` the first step's state is blind to
    the last skeleton frames; the bidirectional GRU over the steps gives it them."""
    if not context:
        with pytest.raises(ValueError, match="step_context needs per_step"):
            tiny(step_context=True)
    torch.manual_seed(0)
    model = tiny(per_step=True, attend_time=True, step_context=context).eval()
    seen = []
    model.attention.hidden.register_forward_hook(lambda m, args, out: seen.append(args[0]))
    batch = make_batch(model, batch=2)
    later = {**batch, "skeleton": batch["skeleton"].clone()}
    later["skeleton"][:, -1] += 1.0  # move every joint of the last skeleton frame
    with torch.no_grad():
        model(batch), model(later)
    assert seen[0].shape[1] >= 2  # several steps
    first_changed = not torch.allclose(seen[0][:, 0], seen[1][:, 0])
    assert first_changed == context
    assert not torch.allclose(seen[0][:, -1], seen[1][:, -1])  # the last step sees it either way


def test_read_order_tells_a_clip_from_its_reversal_where_the_mean_cannot():
    """``read_order``: beside the shares' weighted mean, the read carries the steps' trend under
    them; a clip read backwards keeps the mean and flips the trend, and one step has no trend."""
    from core_models.models.part_attention import order_weights

    uniform = torch.full((1, 4), 0.25)
    w = order_weights(uniform)[0]
    assert torch.allclose(w, -w.flip(0)) and w.sum().abs() < 1e-6 and w[3] > 0
    assert torch.equal(order_weights(torch.tensor([[0.0, 1.0, 0.0, 0.0]])), torch.zeros(1, 4))
    narrow, wide = torch.tensor([[0.0, 0.5, 0.5, 0.0]]), uniform
    ramp = torch.arange(4.0)  # a feature rising one per step (2 per unit of u): the same slope at any width
    for shares in (narrow, wide):
        assert (order_weights(shares)[0] * ramp).sum().item() == pytest.approx(2.0)
    # shares nearly on one step: the slope fades towards none (their variance held at two steps')
    assert 0 < (order_weights(torch.tensor([[0.0, 0.9, 0.1, 0.0]]))[0] * ramp).sum().item() < 1
    torch.manual_seed(0)
    feats = torch.randn(2, 2, 5, 4, 2, 2)  # (B, P, C', T', H', W')
    alpha = torch.full((2, 2), 0.5)
    read = PartAttention._read(feats, alpha, uniform.expand(2, 4), order=True)
    back = PartAttention._read(feats.flip(3), alpha, uniform.expand(2, 4), order=True)
    assert read.shape == (2, 10) and torch.allclose(read[:, :5], back[:, :5], atol=1e-6)
    assert torch.allclose(read[:, 5:], -back[:, 5:], atol=1e-6) and read[:, 5:].abs().sum() > 0
    with pytest.raises(ValueError, match="read_order needs"):
        tiny(read_order=True)
    model = tiny(num_classes=3, per_step=True, attend_time=True, step_target="explains", step_reads=1.0,
                 read_order=True).train()  # fmt: skip
    channels = model.parts["left_hand"].feature_channels(model.config.fusion_endpoint)
    assert model.head.in_features == 2 * channels
    batch = make_batch(model, batch=3)
    out = model(batch)
    assert out.aux["step_logits"].shape == (3, out.attention["temporal"].shape[1], 3)
    total, _ = model.loss(out, batch)
    total.backward()
    assert torch.isfinite(total) and model.head.weight.grad[:, model.head.in_features // 2 :].abs().sum() > 0
