"""Left-right mirror augmentation: every input of an item mirrors consistently with the others."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from core_models.data.clip import Clip, ClipTruth
from core_models.data.crops import CropSpec
from core_models.data.datasets import ClipDataset, InputSpec, make_item, mirror_item, prepare_clip
from core_models.data.layouts import LAYOUTS, NTU25, mirror_name


@pytest.mark.parametrize("layout", list(LAYOUTS.values()), ids=lambda x: x.name)
def test_layout_mirrors_are_involutions_that_swap_sides(layout):
    joints, parts = layout.mirror_joints, layout.mirror_parts
    assert [joints[j] for j in joints] == list(range(layout.num_joints))
    assert [parts[p] for p in parts] == list(range(len(layout.parts)))
    for j, name in enumerate(layout.joint_names):
        other = layout.joint_names[joints[j]]
        assert other == mirror_name(name)
        assert (other == name) == ("left" not in name and "right" not in name)
    assert layout.part_names[parts[layout.part_names.index("left_hand")]] == "right_hand"
    assert parts[layout.part_names.index("full_body")] == layout.part_names.index("full_body")


def _clip_with_marked_right_hand(T: int = 6, H: int = 48, W: int = 64) -> Clip:
    """A clip whose frames are dark except a white square on the right hand's 2D joint, which
    moves over time; 3D joints are random (their mirror is checked numerically)."""
    rng = np.random.default_rng(0)
    frames = np.zeros((T, H, W, 3), np.uint8)
    j2d = np.full((T, 1, 25, 2), np.nan, np.float32)
    j2d[:, 0, :, 0] = rng.uniform(10, W - 10, (T, 25))
    j2d[:, 0, :, 1] = rng.uniform(10, H - 10, (T, 25))
    hand = NTU25.joint_index("hand_right")
    for t in range(T):
        x, y = 20 + 3 * t, 24
        j2d[t, 0, hand] = (x + 0.5, y + 0.5)
        frames[t, y - 1 : y + 2, x - 1 : x + 2] = 255
    parts = np.zeros((T, len(NTU25.part_names)), bool)
    parts[:, NTU25.part_names.index("right_hand")] = True
    truth = ClipTruth(NTU25.part_names, parts, (0, T), info={"dominant": "right", "acting_hand": "right"})
    joints3d = rng.normal(size=(T, 1, 25, 3)).astype(np.float32)
    return Clip("m", NTU25, 0, "drink water", frames=frames, joints3d=joints3d, joints2d=j2d, truth=truth)


SPEC = InputSpec(
    num_frames=4, frame_size=32, skeleton_frames=4, num_persons=1,
    crops=CropSpec(parts=("left_hand", "right_hand", "full_body"), size=16),
)  # fmt: skip


def test_mirror_moves_every_input_together():
    clip = _clip_with_marked_right_hand()
    item = make_item(prepare_clip(clip, SPEC), SPEC, 0)
    m = mirror_item(item, NTU25, SPEC)
    left, right = NTU25.joint_index("hand_left"), NTU25.joint_index("hand_right")

    # RGB flipped: the white square is now where the mirrored left hand says.
    torch.testing.assert_close(m["rgb"], item["rgb"].flip(-1))
    S = SPEC.frame_size
    for t in range(SPEC.num_frames):
        x, y = ((m["joints2d"][t, 0, left] + 1) / 2 * S).tolist()
        assert m["rgb"][:, t, int(y), int(x)].min() > 0.5, "the mirrored hand joint is off the mark"
        assert m["rgb"][:, t, int(y), S - 1 - int(x)].max() < 0, "the mark did not move"
    torch.testing.assert_close(m["joints2d"][:, :, left, 0], -item["joints2d"][:, :, right, 0])
    torch.testing.assert_close(m["joints2d"][:, :, left, 1], item["joints2d"][:, :, right, 1])

    # Crops: the left-hand crop of the mirror is the flipped right-hand crop of the original.
    torch.testing.assert_close(m["crops"][0], item["crops"][1].flip(-1))
    torch.testing.assert_close(m["crops"][1], item["crops"][0].flip(-1))
    torch.testing.assert_close(m["crops"][2], item["crops"][2].flip(-1))

    # 3D joints: x changes sign around the body centre, sides swap, y and z stay.
    torch.testing.assert_close(m["skeleton"][..., left, 0], -item["skeleton"][..., right, 0])
    torch.testing.assert_close(m["skeleton"][..., left, 1:], item["skeleton"][..., right, 1:])

    # Ground truth follows: the acting hand is now the left one.
    names = NTU25.part_names
    assert m["truth_parts"][names.index("left_hand")] and not m["truth_parts"][names.index("right_hand")]
    assert int(m["truth_acting"]) == 0 and int(m["truth_dominant"]) == 0
    assert m["label"] == item["label"]

    # Twice is the identity.
    twice = mirror_item(m, NTU25, SPEC)
    for k, v in item.items():
        torch.testing.assert_close(twice[k], v, equal_nan=True, msg=k)


def test_mirror_flips_flow_and_its_x_component():
    flow = torch.randn(6, 8, 8)
    m = mirror_item({"flow": flow}, NTU25, InputSpec(flow_frames=3))["flow"]
    torch.testing.assert_close(m[0::2], -flow[0::2].flip(-1))
    torch.testing.assert_close(m[1::2], flow[1::2].flip(-1))


class _OneClipReader:
    layout = NTU25

    def __init__(self, clip):
        self.clip = clip

    def label_for(self, ref, protocol=None):
        return 0

    def load(self, ref, **kw):
        return self.clip


def test_training_set_mirrors_about_half_and_evaluation_never():
    clip = _clip_with_marked_right_hand()
    reader = _OneClipReader(clip)
    refs = ["m"] * 40
    spec = InputSpec(num_frames=2, frame_size=16, skeleton_frames=0)
    train = ClipDataset(reader, refs, spec, train=True, mirror=True, keep_in_memory=True)
    acting = [int(train[i]["truth_acting"]) for i in range(len(refs))]
    assert 8 <= acting.count(0) <= 32, acting
    assert acting == [int(train[i]["truth_acting"]) for i in range(len(refs))], "not reproducible"
    plain = ClipDataset(reader, refs, spec, train=True, mirror=False, keep_in_memory=True)
    assert all(int(plain[i]["truth_acting"]) == 1 for i in range(len(refs)))
    evaluation = ClipDataset(reader, refs, spec, train=False, mirror=True, keep_in_memory=True)
    assert all(int(evaluation[i]["truth_acting"]) == 1 for i in range(len(refs)))


def test_recipes_mirror_unless_told_not_to():
    from core_models.cli import build_parser
    from core_models.train import TrainSettings

    assert TrainSettings(model="part_attention", out="x").resolved().mirror is True
    args = build_parser().parse_args(["train", "--model", "part_attention", "--out", "x", "--no-mirror"])
    assert args.mirror is False


# ---------------------------------------------------------------------------------------------
# light and framing jitter


def test_jitter_relights_every_input_alike_and_reframes_each_crop():
    from core_models.data.datasets import jitter_item

    clip = _clip_with_marked_right_hand()
    item = make_item(prepare_clip(clip, SPEC), SPEC, 0)
    same = jitter_item(item, np.random.default_rng(0), light=0.0, zoom=1.0)
    for key in item:
        torch.testing.assert_close(same[key], item[key])  # no light change, full framing: identity
    j = jitter_item(item, np.random.default_rng(3))
    assert j["crops"].shape == item["crops"].shape and j["rgb"].shape == item["rgb"].shape
    assert j["crops"].abs().max() <= 1.0 and j["rgb"].abs().max() <= 1.0
    for key in ("skeleton", "joints2d", "label", "truth_parts", "truth_acting", "frame_index"):
        torch.testing.assert_close(j[key], item[key], equal_nan=True)
    assert not torch.equal(j["rgb"], item["rgb"])
    again = jitter_item(item, np.random.default_rng(3))
    torch.testing.assert_close(again["crops"], j["crops"])  # the item's rng decides everything

    # a flat image stays flat under any framing, and every input gets the same light
    flat = dict(item, rgb=torch.full_like(item["rgb"], 0.1), crops=torch.full_like(item["crops"], 0.1))
    lit = jitter_item(flat, np.random.default_rng(5))
    level = lit["rgb"].flatten()[0]
    torch.testing.assert_close(lit["rgb"], torch.full_like(lit["rgb"], float(level)))
    torch.testing.assert_close(lit["crops"], torch.full_like(lit["crops"], float(level)))
    assert abs(float(level) - 0.1) > 1e-3

    # framing: a crop that is a ramp along x keeps its direction but is cut and stretched
    ramp = torch.linspace(-1, 1, 16).expand(3, 3, 4, 16, 16).clone()  # (P, 3, T, C, C)
    framed = jitter_item(dict(item, crops=ramp), np.random.default_rng(1), light=0.0, zoom=0.5)["crops"]
    rows = framed[:, 0, 0, 0]  # (P, C): one row per part
    assert (rows.diff(dim=1) >= -1e-6).all()  # still increasing left to right
    assert (rows[:, -1] - rows[:, 0] < 2.0 - 1e-3).all()  # a window, not the whole ramp
    assert not torch.allclose(rows[0], rows[1]) or not torch.allclose(rows[1], rows[2])  # own framing


def test_only_a_training_set_jitters_and_the_recipe_or_flag_decides():
    from core_models.cli import build_parser
    from core_models.train import TrainSettings

    clip = _clip_with_marked_right_hand()
    reader = _OneClipReader(clip)
    spec = InputSpec(num_frames=2, frame_size=16, skeleton_frames=0)
    plain = ClipDataset(reader, ["m"], spec, train=True, keep_in_memory=True)[0]["rgb"]
    train = ClipDataset(reader, ["m"], spec, train=True, jitter=True, keep_in_memory=True)[0]["rgb"]
    evaluation = ClipDataset(reader, ["m"], spec, train=False, jitter=True, keep_in_memory=True)[0]["rgb"]
    central = ClipDataset(reader, ["m"], spec, train=False, keep_in_memory=True)[0]["rgb"]
    assert not torch.equal(train, plain)
    torch.testing.assert_close(evaluation, central)
    args = build_parser().parse_args(["train", "--model", "stn", "--out", "x", "--no-jitter"])
    assert args.jitter is False
    assert TrainSettings(model="stn", out="x", jitter=True).resolved().jitter is True


def test_squeeze_scales_images_flow_and_joints_about_the_centre():
    """``squeeze_item``: a factor of 1 changes nothing; < 1 narrows a bright bar in the frames
    and crops about the centre, scales the flow's dx (not dy) with it and the 2D joints' x; the
    3D skeleton and labels stay; factors are log-uniform in the range, as likely to widen."""
    from core_models.data.datasets import squeeze_factor, squeeze_item

    S = 16
    bar = torch.full((3, 2, S, S), -1.0)
    bar[..., 4:12] = 1.0  # 8 bright columns about the centre
    flow = torch.zeros(4, S, S)  # dx0, dy0, dx1, dy1
    flow[:, :, 4:12] = 0.8
    item = {
        "rgb": bar.clone(), "crops": bar[None].repeat(2, 1, 1, 1, 1), "flow": flow,
        "joints2d": torch.tensor([[[[0.5, 0.2], [float("nan"), float("nan")]]]]),
        "skeleton": torch.ones(2, 1, 2, 3), "label": torch.tensor(3),
    }  # fmt: skip
    same = squeeze_item(item, 1.0)
    for k in item:
        torch.testing.assert_close(same[k], item[k], equal_nan=True, atol=1e-6, rtol=0)
    half = squeeze_item(item, 0.5)
    row = half["rgb"][0, 0, 0]
    assert (row[6:10] > 0.99).all() and (row[:5] < -0.99).all() and (row[11:] < -0.99).all()
    torch.testing.assert_close(half["crops"][1], half["rgb"])
    assert half["flow"][0, 0, 8] == pytest.approx(0.4) and half["flow"][1, 0, 8] == pytest.approx(0.8)
    assert half["flow"][0, 0, 2] == 0.0  # no motion comes in at the edges
    assert half["joints2d"][0, 0, 0].tolist() == pytest.approx([0.25, 0.2])
    assert torch.isnan(half["joints2d"][0, 0, 1]).all()
    assert torch.equal(half["skeleton"], item["skeleton"]) and torch.equal(half["label"], item["label"])
    wide = squeeze_item(item, 1.9)
    assert wide["flow"].max() <= 1.0 and (wide["rgb"][0, 0, 0, 2:14] > 0.99).all()
    rng = np.random.default_rng(0)
    factors = np.array([squeeze_factor(rng, 0.3) for _ in range(2000)])
    assert factors.min() >= 0.7 - 1e-9 and factors.max() <= 1 / 0.7 + 1e-9
    assert abs(np.mean(np.log(factors))) < 0.02  # as likely to widen as to narrow


def test_only_a_training_set_squeezes_and_the_recipe_or_flag_decides():
    from core_models.cli import build_parser
    from core_models.train import TrainSettings, check_settings

    clip = _clip_with_marked_right_hand()
    reader = _OneClipReader(clip)
    spec = InputSpec(num_frames=2, frame_size=16, skeleton_frames=0)
    plain = ClipDataset(reader, ["m"], spec, train=True, keep_in_memory=True)
    squeezed = ClipDataset(reader, ["m"], spec, train=True, squeeze=0.3, keep_in_memory=True)
    evaluation = ClipDataset(reader, ["m"], spec, train=False, squeeze=0.3, keep_in_memory=True)
    central = ClipDataset(reader, ["m"], spec, train=False, keep_in_memory=True)
    assert not torch.equal(squeezed[0]["rgb"], plain[0]["rgb"])
    torch.testing.assert_close(evaluation[0]["rgb"], central[0]["rgb"])
    args = build_parser().parse_args(["train", "--model", "stn", "--out", "x", "--squeeze", "0.25"])
    assert args.squeeze == 0.25
    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--model", "stn", "--out", "x", "--squeeze", "1"])
    assert TrainSettings(model="late_fusion", out="x").resolved().squeeze == 0.0
    # two-stream's and STN's cpu recipes squeeze (their views gaps); --squeeze 0 turns it off
    assert TrainSettings(model="two_stream", out="x").resolved().squeeze == 0.3
    assert TrainSettings(model="stn", out="x").resolved().squeeze == 0.3
    assert TrainSettings(model="two_stream", out="x", squeeze=0.0).resolved().squeeze == 0.0
    assert TrainSettings(model="two_stream", out="x", preset="paper").resolved().squeeze == 0.0
    with pytest.raises(SystemExit, match="squeeze"):
        check_settings(TrainSettings(model="stn", out="x", squeeze=1.5).resolved())
