"""Attention scores and the "does the attention matter?" checks, on hand-made cases with known answers."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from core_models import attention_scores as scores
from core_models.evaluate import class_code_check, intervene, partners, truth_attention
from core_models.models.output import ModelOutput, reused, steer, uniform_attention

PARTS = ("left_hand", "right_hand", "full_body")


def test_uniform_attention_scores_its_baseline_and_attention_on_the_truth_scores_the_best():
    interval = (0.3, 0.55)
    for n in (3, 4, 8, 16):
        cover = scores.bin_coverage(n, interval)
        uni = scores.temporal_scores(np.full(n, 1 / n), interval)
        assert uni["share"] == pytest.approx(uni["uniform"]) == pytest.approx(interval[1] - interval[0])
        best = np.eye(n)[cover.argmax()]
        top = scores.temporal_scores(best, interval)
        assert top["share"] == pytest.approx(top["best"]) == pytest.approx(cover.max())
        assert top["best"] >= top["uniform"]
    # The model's resolution caps the best share: 2 steps cannot hold a quarter of a clip.
    assert scores.temporal_scores(np.array([1.0, 0.0]), (0.0, 0.25))["best"] == pytest.approx(0.5)


def test_always_the_middle_is_scored():
    assert scores.temporal_scores(np.ones(3) / 3, (1 / 3, 2 / 3))["middle"] == pytest.approx(1.0)
    assert scores.temporal_scores(np.ones(4) / 4, (0.0, 0.25))["middle"] == pytest.approx(0.0)
    np.testing.assert_allclose(scores.middle_weights(4), [0, 0.5, 0.5, 0])


def test_recurrent_fields_score_each_unit_against_what_it_summarises():
    # After a forward GRU, segment 3 of 3 summarises the whole clip: all its weight on a truth in
    # the last third is worth a third, not all of it.
    fields = scores.cumulative_fields(3)
    sc = scores.temporal_scores(np.array([0.0, 0.0, 1.0]), (2 / 3, 1.0), fields)
    assert sc["share"] == pytest.approx(1 / 3)
    assert sc["best"] == pytest.approx(1 / 3)
    plain = scores.temporal_scores(np.array([0.0, 0.0, 1.0]), (2 / 3, 1.0))
    assert plain["share"] == pytest.approx(1.0)
    with pytest.raises(ValueError):
        scores.unit_fields(3, np.ones((2, 3)))


def test_part_scores_uniform_baseline_counts_the_true_parts_and_the_acting_hand_margin():
    both = scores.part_scores([1 / 3] * 3, PARTS, ["left_hand", "right_hand"])
    assert both["uniform"] == pytest.approx(2 / 3) and both["share"] == pytest.approx(2 / 3)
    one = scores.part_scores([0.6, 0.1, 0.3], PARTS, ["left_hand"], acting_hand="left")
    assert one["uniform"] == pytest.approx(1 / 3) and one["share"] == pytest.approx(0.6)
    assert one["acting_margin"] == pytest.approx(0.5) and one["best"] == 1.0
    wrong = scores.part_scores([0.1, 0.6, 0.3], PARTS, ["left_hand"], acting_hand="left")
    assert wrong["acting_margin"] == pytest.approx(-0.5)
    assert "acting_margin" not in scores.part_scores(
        [0.5, 0.5], ("full_body", "head"), ["head"], acting_hand="left"
    )


def test_the_parts_share_is_also_scored_where_part_weights_can_miss():
    # A two-hand model: a sitting-down clip (truth: legs) scores 0 whatever the weights, a
    # two-hand clip 1; only the one-hand clips tell where the weights went.
    hands = ("left_hand", "right_hand")
    clips = [  # (weights, truth, acting hand)
        ([0.5, 0.5], ["full_body", "left_leg", "right_leg"], None),
        ([1.0, 0.0], ["left_hand", "right_hand"], None),
        ([1.0, 0.0], ["left_hand"], "left"),
        ([0.0, 1.0], ["right_hand"], "right"),
        ([1.0, 0.0], ["right_hand"], "right"),
    ]
    rows = []
    for w, truth, acting in clips:
        sc = scores.part_scores(w, hands, truth, acting_hand=acting)
        rows.append({"parts_truth_share": sc["share"], "parts_uniform": sc["uniform"],
                     "parts_best": sc["best"], "parts_acting_margin": sc.get("acting_margin", np.nan),
                     "dominant": "right"})  # fmt: skip
    out = scores.summarise(pd.DataFrame(rows), hands)
    assert out["parts"]["share"] == pytest.approx(3 / 5) and out["parts"]["uniform"] == pytest.approx(2.5 / 5)
    assert out["parts"]["best"] == pytest.approx(4 / 5)  # over all clips even perfect weights gain 0.3
    informative = out["parts_informative"]
    assert informative["clips"] == 3 and informative["share"] == pytest.approx(2 / 3)
    assert informative["uniform"] == pytest.approx(0.5) and informative["best"] == 1.0
    no_choice = pd.DataFrame(rows[:2])  # nothing to score: no entry rather than a mean of nothing
    assert "parts_informative" not in scores.summarise(no_choice, hands)


def test_spatial_map_scored_on_the_cells_of_the_acting_part():
    # a 40 x 40 frame read whole (the box), 4 x 4 cells of 10 px; 8 samples, 2 feature steps
    T, J = 12, 4
    box = np.tile([0.0, 0.0, 40.0, 40.0], (T, 1))
    joints = np.full((T, J, 2), 35.0)  # joints 0-1 (the "hand") in the bottom-right cell
    joints[:, 2:] = 5.0  # joints 2-3 (the "head") in the top-left cell
    parts = np.zeros((T, 2), bool)
    parts[4:10, 0] = True  # the hand carries the action on frames 4-9
    frame_index = np.arange(8) + 2  # samples at frames 2..9: step 0 = frames 2-5, step 1 = 6-9
    maps = np.zeros((2, 4, 4))
    maps[0, 3, 3] = 1.0  # step 0 looks at the hand
    maps[1, 0, 0] = 1.0  # step 1 at the head
    sc = scores.spatial_part_scores(maps, box, frame_index, joints, parts, [(0, 1), (2, 3)], (4, 10))
    # scored samples: frames 4..9 (6 of them); 2 on step 0 (frames 4, 5) and 4 on step 1
    assert sc["samples"] == 6 and sc["share"] == pytest.approx(2 / 6)
    assert sc["uniform"] == pytest.approx(1 / 16) and sc["centre"] == 0.0 and sc["best"] == 1.0
    one = scores.spatial_part_scores(maps[0], box, frame_index, joints, parts, [(0, 1), (2, 3)], (4, 10))
    assert one["share"] == 1.0  # one map for the clip, on the hand
    # the box moves so that the hand leaves the square: nothing to score
    hand_out = scores.spatial_part_scores(
        maps, box + 100, frame_index, joints, parts, [(0, 1), (2, 3)], (4, 10)
    )
    assert hand_out is None
    # a spanning part (more than 4 joints) is no place: nothing to score
    wide = np.ones((T, 1), bool)
    body = np.full((T, 6, 2), 5.0)
    assert scores.spatial_part_scores(maps, box, frame_index, body, wide, [range(6)], (0, T)) is None
    centre = np.zeros((4, 4))
    centre[1:3, 1:3] = 0.25
    np.testing.assert_allclose(scores.centre_weights(4, 4), centre)
    with pytest.raises(ValueError, match="spatial must be"):
        scores.spatial_part_scores(np.zeros(4), box, frame_index, joints, parts, [(0, 1)], (4, 10))


def test_spatial_truth_maps_spread_each_step_over_its_true_cells():
    # the frame and joints of the test above: the hand (joints 0-1) bottom-right, the head top-left
    T, J = 12, 4
    box = np.tile([0.0, 0.0, 40.0, 40.0], (T, 1))
    joints = np.full((T, J, 2), 35.0)
    joints[:, 2:] = 5.0
    joints[8:, :2] = 15.0  # on frames 8-11 the hand is in cell (1, 1)
    parts = np.zeros((T, 2), bool)
    parts[4:10, 0] = True
    frame_index = np.arange(8) + 2  # step 0 = frames 2-5, step 1 = frames 6-9
    pj = [(0, 1), (2, 3)]
    maps = scores.spatial_truth_maps((2, 4, 4), box, frame_index, joints, parts, pj, (4, 10))
    assert maps.shape == (2, 4, 4)
    np.testing.assert_allclose(maps.sum(axis=(1, 2)), 1.0)
    assert maps[0, 3, 3] == 1.0  # frames 4-5: the hand bottom-right
    assert maps[1, 3, 3] == maps[1, 1, 1] == 0.5  # frames 6-7 bottom-right, 8-9 in (1, 1)
    # a step with no sample inside the interval says nothing: uniform
    late = scores.spatial_truth_maps((2, 4, 4), box, frame_index, joints, parts, pj, (8, 10))
    np.testing.assert_allclose(late[0], 1 / 16)
    assert late[1, 1, 1] == 1.0
    # an action of a spanning part alone, or a hand outside the square: uniform everywhere
    wide = scores.spatial_truth_maps((2, 4, 4), box, frame_index, np.full((T, 6, 2), 5.0),
                                     np.ones((T, 1), bool), [range(6)], (0, T))  # fmt: skip
    out = scores.spatial_truth_maps((2, 4, 4), box + 100, frame_index, joints, parts, pj, (4, 10))
    np.testing.assert_allclose(wide, 1 / 16)
    np.testing.assert_allclose(out, 1 / 16)


def test_class_predictability_tells_a_class_code_from_a_place():
    rng = np.random.default_rng(0)
    n, k = 300, 5
    labels = rng.integers(0, k, n)
    groups = rng.integers(0, 10, n)
    code = np.eye(k)[labels] + rng.normal(0, 0.05, (n, k))  # the weights say the class
    place = np.eye(k)[rng.integers(0, k, n)]  # the weights say where, independent of the class
    assert scores.class_predictability(code, labels, groups) > 0.95
    assert scores.class_predictability(place, labels, groups) < 0.35
    assert np.isnan(scores.class_predictability(code, labels, np.zeros(n)))


def test_truth_attention_features_at_the_model_resolution():
    x = scores.truth_attention_features([["left_hand"], []], np.array([[0.0, 0.5], [0.5, 1.0]]),
                                        part_names=PARTS, steps=2)  # fmt: skip
    np.testing.assert_allclose(x[0], [1, 0, 0, 1, 0])
    np.testing.assert_allclose(x[1], [1 / 3, 1 / 3, 1 / 3, 0, 1])


def test_true_attention_is_the_truth_at_the_model_resolution_shaped_like_its_weights():
    table = pd.DataFrame({"truth_parts": [["right_hand"], ["left_hand", "right_hand"], []],
                          "truth_interval": [[0.25, 0.5], [0.0, 1.0], [0.6, 0.7]]})  # fmt: skip
    captured = {
        "temporal": torch.rand(3, 4), "segments:2": torch.rand(3, 2), "parts": torch.rand(3, 5, 2),
        "spatial": torch.rand(3, 2, 2, 2), "granularity": torch.rand(3, 3),
        "glimpses": torch.rand(3, 2, 3, 4),
    }  # fmt: skip
    maps = np.random.default_rng(0).random((3, 8))
    plain = SimpleNamespace()  # no attention_fields: each unit summarises its own bin
    t = truth_attention(plain, captured, table, ["left_hand", "right_hand"], maps)
    assert set(t) == {"temporal", "segments:2", "parts", "spatial"}  # kinds with a ground truth only
    assert all(t[k].shape == captured[k].shape and t[k].dtype == torch.float32 for k in t)
    np.testing.assert_allclose(t["temporal"][0], [0, 1, 0, 0])  # the interval is step 1
    np.testing.assert_allclose(t["temporal"][1], 0.25)  # the whole clip: every step alike
    np.testing.assert_allclose(t["temporal"][2], [0, 0, 1, 0])
    np.testing.assert_allclose(t["segments:2"][0], [1, 0])
    np.testing.assert_allclose(t["parts"][0], [[0, 1]] * 5)  # the same parts at every step
    np.testing.assert_allclose(t["parts"][1], 0.5)
    np.testing.assert_allclose(t["parts"][2], 0.5)  # no part of the model's acts: equal weights
    np.testing.assert_allclose(t["spatial"].reshape(3, 8), maps.astype(np.float32))
    # a model whose k-th unit has read units 1..k (a forward GRU): weights by what each has read
    gru = SimpleNamespace(attention_fields=lambda kind, n: scores.cumulative_fields(n))
    late = pd.DataFrame({"truth_parts": [[]], "truth_interval": [[0.5, 1.0]]})
    t = truth_attention(gru, {"segments:2": torch.rand(1, 2)}, late, [])
    np.testing.assert_allclose(t["segments:2"][0], [0, 1])
    early = late.assign(truth_interval=[[0.0, 0.5]])
    both = truth_attention(gru, {"segments:2": torch.rand(1, 2)}, early, [])
    np.testing.assert_allclose(both["segments:2"][0], [2 / 3, 1 / 3])  # unit 2 read half the truth
    # no ground truth (real datasets), or no map of the truth: nothing, or nothing for the maps
    assert truth_attention(plain, captured, table.assign(truth_interval=None), ["left_hand"], maps) == {}
    assert "spatial" not in truth_attention(plain, captured, table, ["left_hand", "right_hand"])


# ---------------------------------------------------------------------------------------------
# interventions on toy models


@dataclass
class _Ref:
    name: str
    meta: dict = field(default_factory=dict)


class _Toy(torch.utils.data.Dataset):
    """Clips whose class evidence sits in one random part; ``cue`` says which part."""

    def __init__(self, n=120, k=4, seed=0):
        rng = np.random.default_rng(seed)
        self.labels = rng.integers(0, k, n).tolist()
        self.where = rng.integers(0, len(PARTS), n)
        self.refs = [_Ref(f"clip{i:03d}", {"subject": i % 6}) for i in range(n)]
        ev = rng.normal(0, 0.1, (n, len(PARTS), k))
        wrong = (np.array(self.labels) + 1 + rng.integers(0, k - 1, n)) % k
        for i in range(n):
            ev[i, :, wrong[i]] += 1.0  # every other part shouts a wrong class
            ev[i, self.where[i]] = 0
            ev[i, self.where[i], self.labels[i]] = 1.5
        self.ev = torch.tensor(ev, dtype=torch.float32)
        self.cue = self.where  # where an attending model looks (the evidence, unless changed)

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return {"x": self.ev[i], "cue": torch.eye(len(PARTS))[int(self.cue[i])],
                "label": torch.tensor(self.labels[i]), "index": torch.tensor(i)}  # fmt: skip


class _Attends(nn.Module):
    """Puts its attention where the cue says and classifies from the attended part."""

    steerable = ("parts",)
    config = SimpleNamespace(parts=PARTS)

    def forward(self, batch):
        alpha = steer(batch, "parts", torch.softmax(batch["cue"] * 20, dim=-1))  # (B, P)
        logits = torch.einsum("bp,bpk->bk", alpha, batch["x"])
        return SimpleNamespace(logits=logits, attention={"parts": alpha}, aux={})


class _ClassCode(nn.Module):
    """Its attention encodes the class; its prediction ignores the attention."""

    steerable = ("parts",)
    config = SimpleNamespace(parts=PARTS)

    def forward(self, batch):
        code = torch.softmax(torch.nn.functional.one_hot(batch["label"] % 3, 3).float() * 10, dim=-1)
        steer(batch, "parts", code)
        logits = batch["x"][torch.arange(len(code)), batch["cue"].argmax(1)]  # the true part, always
        return SimpleNamespace(logits=logits, attention={"parts": code}, aux={})


def _captured(model, ds):
    batch = {k: torch.stack([ds[i][k] for i in range(len(ds))]) for k in ("x", "cue", "label", "index")}
    return {"parts": model(batch).attention["parts"].detach()}


def test_a_model_that_needs_its_attention_loses_accuracy_without_it():
    ds, model = _Toy(), _Attends()
    res = intervene(model, ds, _captured(model, ds), batch_size=32, device="cpu", progress=False)
    assert set(res) == {"uniform", "swap_same", "swap_other"}
    # Learned: every clip right; uniform: the wrong parts outvote; borrowed: wherever the other
    # clip's evidence was.
    assert res["uniform"]["top1"] < 0.2
    assert res["swap_same"]["top1"] < 0.6 and res["swap_other"]["top1"] < 0.6


class _Trunked(_Attends):
    """``_Attends`` behind a trunk (its evidence doubled) that counts the batches it runs on and
    reports its output as reusable, as the steerable models report their feature maps."""

    def __init__(self):
        super().__init__()
        self.trunk_batches = 0

    def _trunk(self, batch):
        self.trunk_batches += 1
        return batch["x"] * 2

    def forward(self, batch):
        x = reused(batch, "x2", lambda: self._trunk(batch))
        alpha = steer(batch, "parts", torch.softmax(batch["cue"] * 20, dim=-1))
        logits = torch.einsum("bp,bpk->bk", alpha, x)
        return ModelOutput(logits=logits, attention={"parts": alpha}, reusable={"x2": x})


def test_interventions_run_the_trunk_on_their_first_pass_only_and_score_as_full_passes(monkeypatch):
    """Three passes (uniform, borrowed from the same class, from another) over 4 batches: the
    trunk runs on the first pass's 4 only, and every figure is what full passes give; past the
    memory cap the batches not kept run the trunk again."""
    import core_models.evaluate as ev

    ds, plain = _Toy(), _Attends()
    expected = intervene(plain, ds, _captured(plain, ds), batch_size=32, device="cpu", progress=False)
    model = _Trunked()
    captured = _captured(model, ds)
    model.trunk_batches = 0
    assert intervene(model, ds, captured, batch_size=32, device="cpu", progress=False) == expected
    assert model.trunk_batches == 4
    one_batch = 32 * len(PARTS) * 4 * 4 / 2**20  # (32, P, k) float32, in MiB
    for cap, runs in ((0, 12), (2 * one_batch, 4 + 2 * 2)):  # none kept; the first two batches kept
        monkeypatch.setattr(ev, "REUSE_MEMORY_MB", cap)
        model.trunk_batches = 0
        assert intervene(model, ds, captured, batch_size=32, device="cpu", progress=False) == expected
        assert model.trunk_batches == runs


def test_the_true_attention_lifts_a_model_whose_attention_misses_and_not_one_that_ignores_it():
    ds = _Toy()
    misled = ds.where.copy()
    misled[::3] = (misled[::3] + 1) % len(PARTS)  # a third of the cues point at a wrong part
    ds.cue = misled
    table = pd.DataFrame({"truth_parts": [[PARTS[w]] for w in ds.where],
                          "truth_interval": [[0.0, 1.0]] * len(ds)})  # fmt: skip
    model = _Attends()
    captured = _captured(model, ds)
    truth = truth_attention(model, captured, table, list(PARTS))
    res = intervene(model, ds, captured, batch_size=32, device="cpu", progress=False, truth=truth)
    assert set(res) == {"uniform", "swap_same", "swap_other", "truth"}  # one kind: no per-kind pass
    assert res["truth"]["kinds"] == ["parts"]
    own = np.mean(captured["parts"].argmax(1).numpy() == ds.where)
    assert own < 0.75 and res["truth"]["top1"] == 1.0  # on the evidence, every clip right
    ignores = _ClassCode()
    captured = _captured(ignores, ds)
    res = intervene(ignores, ds, captured, batch_size=32, device="cpu", progress=False,
                    truth=truth_attention(ignores, captured, table, list(PARTS)))  # fmt: skip
    # it never reads its attention: the truth changes nothing
    assert res["truth"]["top1"] == res["uniform"]["top1"] == res["swap_other"]["top1"]


def test_a_class_code_is_caught_and_an_ignored_attention_changes_nothing():
    ds, model = _Toy(), _ClassCode()
    captured = _captured(model, ds)
    res = intervene(model, ds, captured, batch_size=32, device="cpu", progress=False)
    assert res["uniform"]["top1"] == res["swap_other"]["top1"] == 1.0
    table = pd.DataFrame({
        "label": ds.labels, "subject": [r.meta["subject"] for r in ds.refs],
        "truth_parts": [[PARTS[w]] for w in ds.where], "truth_interval": [[0.0, 1.0]] * len(ds),
    })  # fmt: skip
    check = class_code_check(table, captured, list(PARTS))
    assert check["parts"]["attention"] > 0.6  # three weight patterns for four classes
    assert check["parts"]["truth"] < 0.45  # where the evidence is says little about the class


def test_partners_are_another_clip_of_the_asked_class():
    labels = np.array([0, 0, 1, 1, 2, 2, 0])
    groups = np.array([1, 2, 1, 2, 1, 2, 1])
    same, other = partners(labels, groups, same=True), partners(labels, groups, same=False)
    assert (labels[same] == labels).all() and (same != np.arange(7)).all()
    assert (groups[same[:6]] != groups[:6]).all()  # another subject where one exists
    assert (labels[other] != labels).all()


def test_uniform_attention_shapes():
    parts = torch.softmax(torch.randn(2, 5, 3), -1)
    np.testing.assert_allclose(uniform_attention("parts", parts).numpy(), 1 / 3)
    spatial = torch.softmax(torch.randn(2, 16), -1).view(2, 4, 4)
    np.testing.assert_allclose(uniform_attention("spatial", spatial).sum((-2, -1)).numpy(), 1.0, atol=1e-6)
    glimpses = torch.rand(2, 3, 4, 4) * 2 - 1
    g = uniform_attention("glimpses", glimpses)
    assert torch.equal(g[0, 0, :, :2], g[1, 2, :, :2]) and (g[..., :2].abs() < 1).all()
    with pytest.raises(ValueError):
        steer({"attention:parts": torch.ones(2, 4)}, "parts", parts[:, 0])


# ---------------------------------------------------------------------------------------------
# end to end: evaluate writes the scores and the checks


@pytest.mark.parametrize("name", ["part_attention-cs", "separable_sta-cs", "temporal_granularity-cs"])
def test_evaluate_writes_baselines_and_attention_checks(name, tiny_synth, tmp_path):
    from pathlib import Path

    from core_models.checkpoint import build_from_checkpoint, load_checkpoint
    from core_models.evaluate import evaluate_checkpoint

    ck = Path(__file__).resolve().parents[1] / "checkpoints" / name / "model.pt"
    # part attention on CS train (subjects 1 and 2): the class-code check needs two subjects
    split = "train" if name == "part_attention-cs" else "test"
    subjects = ("P001", "P002") if split == "train" else ("P003",)
    names = sorted(f.name.split(".")[0] for f in tiny_synth.glob("*C001*.skeleton"))
    clips = [n for s in subjects for n in [n for n in names if s in n][:8]]  # 8 clips per subject
    table, m = evaluate_checkpoint(
        ck, tmp_path, split=split, root=str(tiny_synth), clips=clips, cache_dir=None, progress=False
    )
    assert len(table) == len(clips)
    checks = m["attention_checks"]
    assert {"uniform", "swap_same", "swap_other", "truth"} <= set(checks["interventions"])
    truth_kinds = {"part_attention-cs": ["parts", "temporal"], "separable_sta-cs": ["spatial", "temporal"],
                   "temporal_granularity-cs": ["segments:2", "segments:3", "segments:4"]}  # fmt: skip
    assert checks["interventions"]["truth"]["kinds"] == truth_kinds[name]
    assert {f"truth:{k}" for k in truth_kinds[name]} <= set(checks["interventions"])
    for plan in ("uniform", "truth"):  # each clip's prediction under the pass, in its row
        right = (table[f"{plan}_pred"] == table["label"]).mean()
        assert right == pytest.approx(checks["interventions"][plan]["top1"])
    for entry in checks["interventions"].values():
        assert 0.0 <= entry["top1"] <= 1.0
    segments = ["segments_2", "segments_3", "segments_4", "segments"]
    kinds = {"part_attention-cs": ["parts"], "separable_sta-cs": ["temporal"]}
    kinds["temporal_granularity-cs"] = segments
    kinds = kinds[name]
    for kind in kinds:
        share, uni, best = (table[f"{kind}_{c}"] for c in ("truth_share", "uniform", "best"))
        assert ((uni <= best + 1e-9) & (share <= best + 1e-9) & (share >= 0)).all()
        assert kind in m["attention_scores"]
    if name == "part_attention-cs":
        assert set(table["dominant"]) <= {"left", "right"} and table["acting_hand"].notna().any()
        assert "parts_by_dominant_hand" in m["attention_scores"]
        code = checks["class_code"]["parts"]
        assert 0.0 <= code["truth"] <= 1.0 and 0.0 <= code["attention"] <= 1.0
    else:
        assert all("middle" in m["attention_scores"][k] for k in kinds)
    if name == "separable_sta-cs":  # the maps beside the true maps at their resolution
        code = checks["class_code"]
        assert "truth" in code["spatial"] and "truth" in code["all"]
    # the v1 checkpoints fuse a pose classifier, reported stream by stream; the v2 ones classify
    # from the attended RGB path alone and have no streams to report
    fused = build_from_checkpoint(load_checkpoint(ck), ck).config.pose_scores
    assert set(m.get("streams", {})) == ({"rgb", "pose"} if fused else set())


def test_glimpse_area_on_the_person_box_with_its_baselines():
    """Glimpses inside, half inside and outside a person's box; the box comes from the joints."""
    joints = np.full((2, 2, 25, 2), np.nan)  # (T, M, J, 2), person 1 absent
    joints[:, 0, :, 0] = np.linspace(-0.2, 0.2, 25)  # x
    joints[:, 0, :, 1] = np.linspace(-0.5, 0.5, 25)  # y
    box = scores.person_boxes(joints)  # grown by 0.1 x the height (1.0) on every side
    np.testing.assert_allclose(box[0], [-0.3, -0.6, 0.3, 0.6])
    inside = np.array([[0.0, 0.0, 0.1, 0.1]])  # (N, 4): x, y, sx, sy
    half = np.array([[0.3, 0.0, 0.1, 0.1]])  # straddles the right edge
    outside = np.array([[0.8, 0.8, 0.1, 0.1]])
    for glimpse, share in ((inside, 1.0), (half, 0.5), (outside, 0.0)):
        sc = scores.glimpse_person_scores(np.stack([glimpse, glimpse]), joints)
        assert sc["share"] == pytest.approx(share)
        assert sc["uniform"] == pytest.approx(0.6 * 1.2 / 4)  # the box's share of the frame
        assert sc["best"] == pytest.approx(1.0)  # a glimpse this small fits inside the box
    whole = np.array([[0.0, 0.0, 1.0, 1.0]])  # the whole frame: on the person by the box's share
    sc = scores.glimpse_person_scores(np.stack([whole, whole]), joints)
    assert sc["share"] == pytest.approx(sc["uniform"]) == pytest.approx(sc["best"])
    assert scores.glimpse_person_scores(np.stack([inside]), np.full((1, 2, 25, 2), np.nan)) is None


def test_glimpse_scores_leave_out_frames_without_a_person_and_glimpses_off_the_frame():
    """Missing joints shrink the box, a frame without the person and a glimpse wholly off the
    frame are left out of the means (the whole clip is scored at once)."""
    joints = np.full((3, 2, 25, 2), np.nan)
    joints[:, 0, :, 0] = np.linspace(-0.2, 0.2, 25)
    joints[:, 0, :, 1] = np.linspace(-0.5, 0.5, 25)
    joints[0, 0, 12:] = np.nan  # frame 0: only the upper half of the joints (y up to 0)
    joints[1, 0] = np.nan  # frame 1: nobody
    box = scores.person_boxes(joints)
    assert np.isnan(box[1]).all() and not np.isnan(box[[0, 2]]).any()
    height = 11 / 24  # the 12 joints left span y from -0.5 to -0.5 + 11/24
    assert box[0, 3] == pytest.approx(-0.5 + height + 0.1 * height)
    inside = [-0.1, -0.3, 0.05, 0.05]  # inside frame 0's smaller box and frame 2's
    off = [3.0, 0.0, 0.1, 0.1]  # no area inside the frame: not a glimpse that can land anywhere
    outside = [0.8, 0.8, 0.1, 0.1]
    glimpses = np.array([[inside, off], [outside, outside], [inside, outside]])  # (T', N, 4)
    sc = scores.glimpse_person_scores(glimpses, joints)
    assert sc["share"] == pytest.approx((1.0 + 0.5) / 2)  # frame 0: the inside one; frame 2: 1 of 2
    only_off = np.array([[off, off], [off, off], [off, off]])
    assert scores.glimpse_person_scores(only_off, joints) is None


def evaluate_fresh(make, name: str, root, tmp_path, *, clips: int, interventions: bool):
    """A fresh cpu-preset model (``make(num_classes)``), saved as a checkpoint of ``name`` and
    evaluated on the first ``clips`` CS test clips of camera 1: (clip names, table, metrics)."""
    from core_models.checkpoint import FORMAT, config_dict, save_checkpoint
    from core_models.evaluate import evaluate_checkpoint
    from core_models.synth import synth_reader

    names = synth_reader(root).classes_for("cs")
    model = make(len(names))
    path = save_checkpoint(tmp_path / "model.pt", {
        "format": FORMAT, "model": name, "preset": "cpu", "config": config_dict(model.config),
        "num_classes": len(names), "layout": "ntu25", "class_names": list(names),
        "data": {"kind": "synth", "protocol": "cs", "root": str(root), "version": 2}, "settings": {},
        "epoch": 0, "step": 0, "metrics": {}, "state_dict": model.state_dict(),
    })  # fmt: skip
    names = sorted(f.name.split(".")[0] for f in root.glob("S*C001P003*.skeleton"))[:clips]
    table, m = evaluate_checkpoint(path, tmp_path, root=str(root), clips=names, cache_dir=None,
                                   progress=False, interventions=interventions)  # fmt: skip
    return names, table, m


@pytest.mark.parametrize("name", ["separable_sta", "glimpse_clouds", "i3d_nl"])
def test_evaluate_steers_and_scores_the_new_variants(name, tiny_synth, tmp_path):
    """The joint STA masks (a map per step) take uniform and swapped attention; Glimpse Clouds'
    glimpses are scored against the person's box; I3D's non-local affinities take uniform and
    swapped ones block by block. A fresh cpu-preset model, saved as a checkpoint."""
    from core_models.models import build_model

    torch.manual_seed(0)
    clips, table, m = evaluate_fresh(
        lambda k: build_model(name, "cpu", num_classes=k), name, tiny_synth, tmp_path, clips=6,
        interventions=name != "glimpse_clouds",
    )  # fmt: skip
    if name == "i3d_nl":  # every block's affinity made equal, all together and one by one, and swapped
        inter = m["attention_checks"]["interventions"]
        blocks = [f"nonlocal:Mixed_{b}" for b in ("4b", "4c", "4d", "4e", "4f", "5b", "5c")]
        assert {"uniform", "swap_same", "swap_other", *(f"uniform:{b}" for b in blocks)} == set(inter)
        assert set(m["attention_checks"]["class_code"]) == {"chance", "all", *blocks}
        assert not any(c.startswith("nonlocal") for c in table.columns)  # no per-clip summary
    elif name == "separable_sta":
        assert np.asarray(table["spatial"].iloc[0]).shape == (8, 8)  # the mean of the 8 step maps
        assert {"uniform", "uniform:spatial", "uniform:temporal", "swap_other"} <= set(
            m["attention_checks"]["interventions"]
        )
    else:
        e = m["attention_scores"]["glimpses"]
        assert 0 <= e["share"] <= 1 and 0 < e["uniform"] < e["best"] <= 1 and e["clips"] == len(clips)
        assert "glimpses_truth_share" in m["attention_vs_truth"]


def test_evaluate_scores_where_the_step_reads_put_the_label(tiny_synth, tmp_path):
    """Part attention with ``step_reads``: the share of the label's probability that each step's
    own read holds, scored on the truth interval beside the steps' shares (the target they learn)."""
    from core_models.evaluate import _label_shares
    from core_models.models.output import ModelOutput
    from core_models.models.part_attention import part_attention

    logits = torch.zeros(1, 4, 3)
    logits[0, 2, 1] = 6.0  # step 2 alone says class 1
    out = ModelOutput(logits=logits.mean(1), attention={}, aux={"step_logits": logits})
    shares = _label_shares(out, {"label": torch.tensor([1])})[0]
    assert shares.argmax() == 2 and shares.sum() == pytest.approx(1.0)
    assert _label_shares(out, {"label": torch.tensor([0])})[0, 2] < 0.25  # the read says "not 0" there
    torch.manual_seed(0)
    kw = dict(trunk="frames", step_target="explains", step_reads=1.0)
    clips, table, m = evaluate_fresh(
        lambda k: part_attention("cpu", num_classes=k, **kw), "part_attention", tiny_synth, tmp_path,
        clips=4, interventions=False,
    )  # fmt: skip
    reads, steps = m["attention_scores"]["step_reads"], m["attention_scores"]["temporal"]
    assert reads["clips"] == len(clips) and 0 <= reads["share"] <= reads["best"] <= 1
    assert reads["uniform"] == pytest.approx(steps["uniform"])  # the same steps, the same truth
    assert table["step_reads_truth_share"].notna().all()
