"""Training, resuming, divergence, distributed equivalence, checkpoints and the results store."""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from core_models import results
from core_models.checkpoint import CheckpointError, build_from_checkpoint, load_checkpoint, save_checkpoint
from core_models.cli import main
from core_models.evaluate import compute_metrics, evaluate_run, overlap_share
from core_models.models.skeleton_lstm import SkeletonLSTM
from core_models.train import TrainingDivergedError, TrainSettings, train

ENV = {**os.environ, "CORE_MODELS_NO_PROGRESS": "1", "OMP_NUM_THREADS": "1"}


def settings(root: Path, out: Path, **kw) -> TrainSettings:
    base = dict(model="skeleton_lstm", out=str(out), root=str(root), epochs=2, batch_size=8, workers=0,
                cache_dir=str(out.parent / "cache"), overrides={"dropout": 0.0})  # fmt: skip
    base.update(kw)
    return TrainSettings(**base)


def cli(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "core_models", *args], env=ENV, capture_output=True,
                          text=True, timeout=timeout)  # fmt: skip


def states_close(a: dict, b: dict, atol: float = 1e-5) -> None:
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k].float(), b[k].float(), atol=atol, rtol=1e-4, msg=k)


def test_a_run_writes_every_file_and_its_model_reloads_from_the_file_alone(tiny_synth, tmp_path):
    run = train(settings(tiny_synth, tmp_path / "run", overrides={"dropout": 0.0, "hidden": 32}))
    for name in ("settings.json", "train.log", "history.jsonl", "last.pt", "best.pt", "model.pt"):
        assert (run / name).is_file(), name
    assert results.read_status(run)["state"] == "complete"
    hist = results.read_history(run)
    assert [h["epoch"] for h in hist] == [0, 1] and all(h["clips_per_second"] > 0 for h in hist)
    assert "epoch 1" in (run / "train.log").read_text()

    table, metrics = results.read_eval(run, "test")
    assert len(table) == metrics["clips"] == 28  # subject 3, cameras 1 and 2, 14 classes
    for col in ("clip", "label", "label_name", "pred", "pred_name", "correct", "confidence", "top5", "probs",
                "subject", "view", "setup", "truth_parts", "truth_interval"):  # fmt: skip
        assert col in table, col
    assert set(table["subject"]) == {"3"} and set(table["view"]) == {"1", "2"}
    for key in ("top1", "top5", "mean_class_accuracy", "per_class", "per_view", "per_subject", "confusion",
                "opposite_pairs_top1", "opposite_pairs_two_way"):  # fmt: skip
        assert key in metrics, key
    assert np.asarray(metrics["confusion"]).sum() == 28

    # The shipped form: weights only, compact, the config travels with it.
    ck = load_checkpoint(run / "model.pt")
    assert (
        "optimizer" not in ck
        and ck["config"]["hidden"] == 32
        and ck["state_dict"]["head.weight"].dtype == torch.float16
    )
    model = build_from_checkpoint(ck)
    assert isinstance(model, SkeletonLSTM) and model.config.hidden == 32
    # Evaluating the file again gives the same predictions as the run's own evaluation.
    again, m2 = evaluate_run(
        run, split="test", checkpoint=str(run / "model.pt"), cache_dir=None, progress=False
    )
    assert m2["top1"] == metrics["top1"]
    np.testing.assert_allclose(np.stack(again["probs"]), np.stack(table["probs"]), atol=1e-5)


def test_a_killed_run_resumes_to_the_same_weights_as_an_uninterrupted_one(tiny_synth, tmp_path):
    common = ["train", "--model", "skeleton_lstm", "--preset", "paper", "--root", str(tiny_synth),
              "--epochs", "3", "--batch-size", "4", "--workers", "0", "--set", "dropout=0", "--no-evaluate",
              "--cache-dir", str(tmp_path / "cache")]  # fmt: skip
    whole = cli(*common, "--out", str(tmp_path / "whole"))
    assert whole.returncode == 0, whole.stderr

    run = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "core_models", *common, "--out", str(run)], env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.time() + 180
    while time.time() < deadline and not (run / "last.pt").exists():
        time.sleep(0.02)
    time.sleep(0.3)  # into the second epoch
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = [h["epoch"] for h in results.read_history(run)]
    assert done and done[-1] < 2, f"the run finished before it could be killed: {done}"
    status = results.read_status(run)  # a killed run never says complete, nor running
    assert status["state"] == "interrupted" and "--resume" in status["reason"], status
    assert not (run / "model.pt").exists()

    kept = load_checkpoint(run / "last.pt")["epoch"]
    resumed = cli("train", "--model", "skeleton_lstm", "--out", str(run), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert [h["epoch"] for h in results.read_history(run)] == [0, 1, 2]
    # epochs are 0-based in the log, as in history.jsonl: the resume line names the kept one
    assert f"after epoch {kept} (step" in (run / "train.log").read_text()
    states_close(
        load_checkpoint(run / "last.pt")["state_dict"],
        load_checkpoint(tmp_path / "whole" / "last.pt")["state_dict"],
    )


def test_two_gloo_processes_train_like_one(tiny_synth, tmp_path):
    common = ["--model", "skeleton_lstm", "--root", str(tiny_synth), "--epochs", "2", "--batch-size", "8",
              "--workers", "0", "--set", "dropout=0", "--set", "hidden=32", "--no-evaluate",
              "--cache-dir", str(tmp_path / "cache")]  # fmt: skip
    one = cli("train", *common, "--out", str(tmp_path / "one"))
    assert one.returncode == 0, one.stderr
    two = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "core_models", "train", *common, "--out", str(tmp_path / "two")],
        env=ENV, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert two.returncode == 0, two.stderr[-3000:]
    assert "terminate called" not in two.stderr  # the process group is left before exit
    assert "2 processes" in (tmp_path / "two" / "train.log").read_text()
    states_close(load_checkpoint(tmp_path / "one" / "last.pt")["state_dict"],
                 load_checkpoint(tmp_path / "two" / "last.pt")["state_dict"], atol=1e-4)  # fmt: skip
    h1, h2 = results.read_history(tmp_path / "one"), results.read_history(tmp_path / "two")
    assert [round(h["val_top1"], 4) for h in h1] == [round(h["val_top1"], 4) for h in h2]
    assert [h["train_loss"] for h in h1] == pytest.approx([h["train_loss"] for h in h2], rel=1e-4)


def test_the_run_is_released_before_the_process_group_closes(tiny_synth, tmp_path, monkeypatch):
    # The DDP wrapper inside a run holds the process group; were the run still alive when the
    # group is destroyed, gloo's threads would outlive it into interpreter exit (an abort there).
    import gc

    import core_models.train as train_mod

    alive = []

    def recording(d, wait=True):
        alive.append(sum(type(o) is train_mod.Run for o in gc.get_objects()))

    monkeypatch.setattr(train_mod, "close_distributed", recording)
    run = train(settings(tiny_synth, tmp_path / "r", epochs=1, evaluate=False))
    assert alive == [0] and (run / "model.pt").exists()


def test_a_nan_loss_stops_with_a_clear_message_and_keeps_the_last_good_checkpoint(
    tiny_synth, tmp_path, monkeypatch
):
    calls = {"n": 0}
    real = SkeletonLSTM.loss

    def poisoned(self, out, batch):
        calls["n"] += 1
        total, terms = real(self, out, batch)
        return (total * float("nan"), terms) if calls["n"] > 7 else (total, terms)

    monkeypatch.setattr(SkeletonLSTM, "loss", poisoned)  # 7 steps per epoch: epoch 1 breaks
    run = tmp_path / "nan"
    with pytest.raises(
        TrainingDivergedError, match=r"loss became nan at epoch 1, step 7 .*last good checkpoint"
    ):
        train(settings(tiny_synth, run, epochs=3, evaluate=False))
    assert load_checkpoint(run / "last.pt")["epoch"] == 0
    status = results.read_status(run)
    assert status["state"] == "failed" and "nan" in status["reason"]
    assert not (run / "model.pt").exists()


def test_overrides_init_and_stages_are_options_of_the_same_command(tiny_synth, tmp_path):
    first = train(settings(tiny_synth, tmp_path / "a", epochs=1, evaluate=False, overrides={"hidden": 32}))
    second = train(settings(tiny_synth, tmp_path / "b", epochs=1, evaluate=False, overrides={"hidden": 32},
                            init=str(first / "model.pt")))  # fmt: skip
    assert "initialised 14 of 14 tensors" in (second / "train.log").read_text()
    with pytest.raises(SystemExit, match="no training stage 'glimpses'"):
        train(settings(tiny_synth, tmp_path / "c", epochs=1, stage="glimpses"))
    with pytest.raises(SystemExit, match="hiden"):
        train(settings(tiny_synth, tmp_path / "d", epochs=1, overrides={"hiden": 3}))
    with pytest.raises(SystemExit, match="already holds a run"):
        train(settings(tiny_synth, tmp_path / "a", epochs=1))


def test_part_attention_stages_choose_what_trains():
    from core_models.models import build_model

    model = build_model("part_attention", "cpu", num_classes=5).train()
    model.set_stage("parts")
    assert all(p.requires_grad for p in model.parts.parameters())
    assert not any(p.requires_grad for p in model.attention.parameters())
    model.set_stage("attention")
    assert not any(p.requires_grad for p in model.parts.parameters()) and not model.parts.training
    assert all(p.requires_grad for p in model.head.parameters())
    with pytest.raises(ValueError, match="unknown stage"):
        model.set_stage("glimpses")


def test_checkpoints_that_are_not_ours_get_clear_errors_and_never_run_code(tmp_path):
    bare = tmp_path / "bare.pt"
    torch.save({"w": torch.zeros(2)}, bare)
    with pytest.raises(CheckpointError, match="bare state_dict without format"):
        load_checkpoint(bare)

    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    torch.save({"x": _Evil(str(marker))}, evil)
    with pytest.raises(CheckpointError, match="cannot be read as a weights-only checkpoint"):
        load_checkpoint(evil)
    assert not marker.exists()

    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(CheckpointError, match="broken.pt"):
        load_checkpoint(broken)

    from core_models.checkpoint import FORMAT, config_dict
    from core_models.models import build_model

    model = build_model("skeleton_lstm", "cpu", num_classes=5)
    good = {"format": FORMAT, "model": "skeleton_lstm", "preset": "cpu", "config": config_dict(model.config),
            "num_classes": 5, "layout": "ntu25", "state_dict": model.state_dict()}  # fmt: skip
    wrong = dict(good, num_classes=7, config=dict(good["config"], num_classes=7))
    save_checkpoint(tmp_path / "wrong.pt", wrong)
    with pytest.raises(
        CheckpointError,
        match=r"does not fit the model: 2 tensors of the wrong shape, e.g. head.weight \(5, 128\)",
    ):
        build_from_checkpoint(load_checkpoint(tmp_path / "wrong.pt"), tmp_path / "wrong.pt")
    assert main(["evaluate", "--checkpoint", str(bare), "--out", str(tmp_path / "x")]) == 2


class _Evil:
    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


def test_interval_share_and_metrics_on_hand_built_tables():
    assert overlap_share(np.array([0.25, 0.25, 0.25, 0.25]), (0.25, 0.75)) == pytest.approx(0.5)
    assert overlap_share(np.array([1.0, 0.0]), (0.25, 0.5)) == pytest.approx(0.5)
    assert overlap_share(np.array([0.0, 1.0]), (0.25, 0.5)) == pytest.approx(0.0)
    names = ["sit down", "stand up", "wave"]
    table = pd.DataFrame({
        "label": [0, 0, 1, 2], "pred": [0, 1, 1, 2], "correct": [True, False, True, True],
        "top5": [[0, 1], [1, 0], [1, 0], [2, 0]], "view": ["1", "1", "2", "2"], "subject": ["3"] * 4,
        "probs": [[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8]],
    })  # fmt: skip
    m = compute_metrics(table, names, opposite_pairs=[("sit down", "stand up")])
    assert m["top1"] == 0.75 and m["top5"] == 1.0
    assert m["per_class"] == {"sit down": 0.5, "stand up": 1.0, "wave": 1.0}
    assert m["mean_class_accuracy"] == pytest.approx(2.5 / 3)
    assert m["per_view"] == {"1": 0.5, "2": 1.0}
    assert m["confusion"] == [[1, 1, 0], [0, 1, 0], [0, 0, 1]]
    assert m["opposite_pairs_top1"] == pytest.approx(2 / 3) and m["opposite_pairs_two_way"] == pytest.approx(
        2 / 3
    )
    assert "part_streams" not in m
    # each part stream alone, and the acting hand's stream against the idle hand's
    table["acting_hand"] = ["left", "right", "right", None]
    table["pred_part_left_hand"] = [0, 0, 0, 0]  # right on clips 0 and 1 (label 0)
    table["pred_part_right_hand"] = [1, 1, 1, 2]  # right on clips 2 and 3
    table["pred_part_full_body"] = [0, 1, 1, 2]
    parts = compute_metrics(table, names)["part_streams"]
    assert parts["left_hand"] == 0.5 and parts["right_hand"] == 0.5 and parts["full_body"] == 0.75
    # one-hand clips 0 (left acts: right), 1 (right acts: wrong; left idle: right), 2 (right acts: right)
    assert parts["one_hand_clips"] == 3
    assert parts["acting_hand"] == pytest.approx(2 / 3) and parts["idle_hand"] == pytest.approx(1 / 3)


def test_an_unfinished_evaluation_is_never_read_as_complete(tmp_path):
    results.write_eval(tmp_path, "test", pd.DataFrame({"clip": ["a"]}), {"top1": 1.0})
    assert results.read_eval(tmp_path, "test")[1]["top1"] == 1.0
    (tmp_path / "eval" / "test" / "COMPLETE").unlink()
    with pytest.raises(results.IncompleteRunError, match="no finished evaluation"):
        results.read_eval(tmp_path, "test")
    json.loads((tmp_path / "eval" / "test" / "metrics.json").read_text())


def test_glimpse_clouds_trains_in_its_two_published_stages(tiny_synth, tmp_path):
    """Stage 1 trains the backbone with the pose head; stage 2 the glimpses on the frozen backbone."""
    common = dict(model="glimpse_clouds", epochs=1, evaluate=False, limit=16, overrides={})
    first = train(settings(tiny_synth, tmp_path / "backbone", stage="backbone", **common))
    second = train(
        settings(tiny_synth, tmp_path / "glimpses", stage="glimpses", init=str(first / "model.pt"), **common)
    )
    a = load_checkpoint(first / "model.pt")["state_dict"]
    b = load_checkpoint(second / "model.pt")["state_dict"]
    backbone = [k for k in a if k.startswith("backbone.") and a[k].is_floating_point()]
    assert backbone and all(torch.equal(a[k], b[k]) for k in backbone)  # frozen in stage 2
    moved = [k for k in a if not k.startswith("backbone.") and not torch.equal(a[k], b[k])]
    assert moved  # the glimpse machinery trained
    hist = results.read_history(second)[0]
    assert "train_attraction" in hist and "train_global_ce" not in hist


def test_a_step_budget_and_patience_end_a_run(tiny_synth, tmp_path):
    """``steps`` bounds the optimiser steps (the last epoch is cut short); ``patience`` stops a run
    whose validation accuracy has stopped improving, and the curves are in history.jsonl."""
    run = train(settings(tiny_synth, tmp_path / "budget", epochs=None, steps=10, evaluate=False))
    hist = results.read_history(run)
    assert [h["step"] for h in hist] == [7, 10]  # 56 clips in batches of 8: 7 steps an epoch
    assert all("val_top1" in h and "train_loss" in h for h in hist)
    # a rate so small that nothing changes: validation never improves on the first epoch; patience
    # counts from half the budget on (8 epochs of 7 steps: after epoch 3, at step 28)
    run = train(settings(tiny_synth, tmp_path / "flat", epochs=8, patience=2, lr=1e-12, evaluate=False))
    hist = results.read_history(run)
    assert [h["epoch"] for h in hist] == [0, 1, 2, 3]
    assert "has not improved for 2 epochs" in (run / "train.log").read_text()
    saved = json.loads((run / "settings.json").read_text())
    assert saved["patience"] == 2 and saved["steps"] == 0 and saved["config"]["hidden"] > 0
    from core_models.results import git_commit

    assert saved["commit"] == git_commit() != "unknown"  # the code that trained it


def test_recipes_budget_steps_and_stop_when_validation_levels_off():
    from core_models.train import RECIPES, TrainSettings

    for model, presets in RECIPES.items():
        r = presets["cpu"]
        # part attention and separable STA train their whole budget: patience on 168 validation
        # clips stopped them on a chance dip (see their module docstrings)
        assert r.steps > 0 and (r.patience > 0 or model in ("part_attention", "separable_sta")), model
    s = TrainSettings(model="separable_sta", out="x").resolved()
    assert s.steps == RECIPES["separable_sta"]["cpu"].steps
    assert TrainSettings(model="separable_sta", out="x", epochs=3).resolved().steps == 0  # --epochs wins


def test_a_stage_with_a_recipe_of_its_own_trains_with_it():
    from core_models.train import RECIPES, STAGE_RECIPES, TrainSettings

    glimpses = STAGE_RECIPES[("glimpse_clouds", "glimpses")]["cpu"]
    assert glimpses.lr != RECIPES["glimpse_clouds"]["cpu"].lr
    resolved = TrainSettings(model="glimpse_clouds", out="x", stage="glimpses").resolved()
    assert (resolved.lr, resolved.steps) == (glimpses.lr, glimpses.steps)
    assert glimpses.steps == 900  # room for patience to stop it (600 could end while rising)
    for stage in ("backbone", None):  # the other stage and the unstaged model keep the model's recipe
        s = TrainSettings(model="glimpse_clouds", out="x", stage=stage).resolved()
        assert (s.lr, s.steps) == (
            RECIPES["glimpse_clouds"]["cpu"].lr,
            RECIPES["glimpse_clouds"]["cpu"].steps,
        )
    assert TrainSettings(model="glimpse_clouds", out="x", stage="glimpses", lr=5e-4).resolved().lr == 5e-4
    paper = TrainSettings(model="glimpse_clouds", out="x", stage="glimpses", preset="paper").resolved()
    assert paper.lr == RECIPES["glimpse_clouds"]["paper"].lr  # no stage recipe for the paper preset


def test_bench_train_reports_both_loops_evaluate_and_flops(tiny_synth, tmp_path):
    from torch import nn

    from core_models.bench_train import bench_model, forward_flops, matmul_flops

    assert matmul_flops(n=128, repeats=2) > 0

    class Linear(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(10, 4)

        def forward(self, batch):
            return self.fc(batch["x"])

    assert forward_flops(Linear(), {"x": torch.zeros(3, 10)}) == 2 * 3 * 10 * 4

    class Recurrent(nn.Module):  # an LSTM's fused CPU kernel is not in PyTorch's table
        def __init__(self, rnn):
            super().__init__()
            self.rnn = rnn

        def forward(self, batch):
            return self.rnn(batch["x"])

    x = torch.zeros(3, 5, 10)  # (B, T, I): every layer and direction multiplies at every step
    lstm = nn.LSTM(10, 20, num_layers=2, batch_first=True)
    assert forward_flops(Recurrent(lstm), {"x": x}) == 2 * 3 * 5 * 80 * (10 + 20 + 20 + 20)
    both = nn.LSTM(10, 20, bidirectional=True)
    assert forward_flops(Recurrent(both), {"x": x.transpose(0, 1)}) == 2 * 3 * 5 * 2 * 80 * (10 + 20)
    gru = nn.GRU(10, 20, batch_first=True)  # matrix products on the CPU, counted by PyTorch
    assert forward_flops(Recurrent(gru), {"x": x}) == 2 * 3 * 5 * 60 * (10 + 20)

    class Packed(Recurrent):  # sequences of 5, 3 and 2 steps: only their 10 steps count
        def forward(self, batch):
            return self.rnn(nn.utils.rnn.pack_padded_sequence(batch["x"], [5, 3, 2], batch_first=True))

    assert forward_flops(Packed(nn.LSTM(10, 20, batch_first=True)), {"x": x}) == 2 * 10 * 80 * (10 + 20)
    row = bench_model("skeleton_lstm", tiny_synth, tmp_path, workers=0, cache_dir=str(tmp_path / "cache"),
                      rounds=3, train_steps=4)  # fmt: skip
    for key in ("train_steps_per_s", "minimal_steps_per_s", "train_x_minimal", "evaluate_x_forward",
                "minimal_unclipped_steps_per_s", "train_x_minimal_unclipped",
                "load_ms_per_batch"):  # fmt: skip
        assert row[key] > 0, key
    # Each ratio is the median of the rounds' ratios, between its quartiles.
    for key in ("train_x_minimal", "train_x_minimal_unclipped", "evaluate_x_forward"):
        low, high = row[f"{key}_quartiles"]
        assert low <= row[key] <= high, key
    assert row["rounds"] >= 3 and row["rounds"] * row["steps_per_round"] >= 4
    assert row["gflop_per_clip"] > 0 and row["gflops_batch"] > 0  # the LSTM's layers counted


def test_init_map_takes_part_attentions_full_body_trunk_as_i3ds_backbone():
    from core_models.checkpoint import build_model_with
    from core_models.train import rename_prefix

    # the cpu preset reads the hands only, with a 2-D trunk per frame; its I3D trunk is an option
    body = {"parts": ["left_hand", "right_hand", "full_body"], "trunk": "i3d", "frame_mix": False}
    pa = build_model_with("part_attention", "cpu", num_classes=14, layout_name="ntu25", config=body)
    i3d = build_model_with("i3d", "cpu", num_classes=14, layout_name="ntu25", config=None)
    taken = rename_prefix(pa.state_dict(), "parts.full_body.=backbone.")
    own = i3d.state_dict()
    assert set(taken) <= set(own) and all(taken[k].shape == own[k].shape for k in taken)
    # The cpu preset fuses at Mixed_4f: the trunk stops there, so I3D keeps its own last blocks.
    assert pa.config.fusion_endpoint == "Mixed_4f"
    left = {".".join(k.split(".")[:2]) for k in set(own) - set(taken)}
    assert left == {"backbone.Mixed_5b", "backbone.Mixed_5c", "backbone.logits"}
    with pytest.raises(SystemExit, match="no tensor"):
        rename_prefix(pa.state_dict(), "nothing.=backbone.")
    with pytest.raises(SystemExit, match="OLD=NEW"):
        rename_prefix(pa.state_dict(), "parts.full_body.")


def test_a_set_that_changes_nothing_starts_from_the_presets_weights():
    # The preset's model is built first for its config; it must not use up the random state, or
    # an experiment with --set starts from other weights than the same config as a preset.
    from core_models.checkpoint import build_model_with
    from core_models.models import build_model

    torch.manual_seed(0)
    plain = build_model("part_attention", "cpu", num_classes=14).state_dict()
    torch.manual_seed(0)
    same = build_model_with("part_attention", "cpu", num_classes=14, layout_name="ntu25",
                            config={"dropout": 0.3}).state_dict()  # fmt: skip
    assert plain.keys() == same.keys()
    for k in plain:
        torch.testing.assert_close(same[k], plain[k], msg=k)


@pytest.mark.parametrize("optimizer", ["adamw", "adam", "sgd"])
def test_the_optimisers_update_all_tensors_at_once_with_the_per_tensor_values(optimizer):
    """``make_optimizer`` asks for the multi-tensor (foreach) updates, which PyTorch picks by
    default only on CUDA; on the CPU they must give the per-tensor loop's values bit for bit, or
    the shipped checkpoints would no longer be what their recorded commands make."""
    from core_models.models import build_model
    from core_models.train import TrainSettings, make_optimizer

    model = build_model("part_attention", num_classes=14)
    s = TrainSettings(model="part_attention", out="x", optimizer=optimizer, lr=2e-3, weight_decay=0.05)
    opt = make_optimizer(model, s.resolved())
    assert all(g["foreach"] for g in opt.param_groups)
    twin, start = copy.deepcopy(model), copy.deepcopy(model)
    loop = make_optimizer(twin, s.resolved())
    for g in loop.param_groups:
        g["foreach"] = False
    pairs = [(a, b) for a, b in zip(model.parameters(), twin.parameters(), strict=True) if a.requires_grad]
    for step in range(4):
        gen = torch.Generator().manual_seed(step)
        for a, b in pairs:
            a.grad = torch.randn(a.shape, generator=gen)
            b.grad = a.grad.clone()
        opt.step()
        loop.step()
    assert all(torch.equal(a, b) for a, b in pairs)
    before = [p for p in start.parameters() if p.requires_grad]
    assert not any(torch.equal(a, b) for (a, _), b in zip(pairs, before, strict=True))  # every one moved
