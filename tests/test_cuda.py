"""CUDA and mixed precision: the tests marked ``cuda`` skip without a CUDA device (CI has none).

On a GPU machine: every ``paper`` preset trains at its full input size in bf16 and in float16 with a
GradScaler, the ``cpu`` presets compute on CUDA what they compute on the CPU, and the ``train``
command (alone and under ``torchrun`` with NCCL) trains on CUDA and writes a checkpoint that loads
and predicts the same on the CPU.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from core_models import results
from core_models.bench_gpu import bench_model, random_batch
from core_models.checkpoint import build_from_checkpoint, load_checkpoint
from core_models.cli import main
from core_models.models import MODELS, build_model, check_output
from core_models.train import TrainSettings, train

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
ENV = {**os.environ, "CORE_MODELS_NO_PROGRESS": "1"}


@pytest.mark.parametrize("name", list(MODELS))
def test_random_batches_have_the_shapes_each_model_reads(name):
    model = build_model(name, "cpu", num_classes=60).eval()
    for training in (True, False):  # an evaluation batch: two-stream's 9 test flow stacks
        batch = random_batch(model, 2, training=training)
        assert set(model.inputs) <= set(batch)
        with torch.no_grad():
            check_output(model(batch), 2, 60)
    if "flow" in model.inputs:
        assert random_batch(model, 1, training=False)["flow"].shape[1] == 2 * 10 * 9


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the answer without a CUDA device")
def test_bench_gpu_without_a_gpu_says_so(capsys):
    assert main(["bench", "gpu"]) == 2
    assert "needs a CUDA device" in capsys.readouterr().err


def test_the_spatial_transformer_keeps_float32_under_autocast():
    # Its theta gradient sums over every output pixel: in float16 the paper preset skipped every step.
    model = build_model("stn", "cpu", num_classes=60).train()
    batch = random_batch(model, 2)
    seen = {}
    model.transformer.register_forward_hook(lambda m, i, o: seen.update(warped=o[0], grid=o[1]))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(batch)
    assert seen["warped"].dtype == seen["grid"].dtype == torch.float32
    assert out.logits.dtype == torch.bfloat16  # the trunk still runs in the autocast dtype
    out.logits.float().sum().backward()
    assert model.transformer.regress[-1].bias.grad.abs().sum() > 0


@cuda
@pytest.mark.parametrize("name", list(MODELS))
def test_paper_presets_train_at_full_size_in_bf16_and_fp16(name):
    row = bench_model(name, batch=2, steps=2, warmup=2)
    assert row["bf16_loss_finite"], row
    assert row["fp16_loss_finite"], row
    skipped, steps = map(int, row["fp16_steps_skipped"].split("/"))
    assert skipped < steps, row  # the scaler found a scale at which the gradients fit in float16
    assert row["train_clips_s"] > 0 and row["peak_gib"] > 0


@cuda
@pytest.mark.parametrize("name", list(MODELS))
def test_cpu_presets_compute_the_same_on_cuda(name, monkeypatch):
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)
    torch.manual_seed(0)
    model = build_model(name, "cpu", num_classes=60).eval()
    batch = random_batch(model, 2)
    with torch.no_grad():
        on_cpu = model(batch).logits
        on_gpu = model.cuda()({k: v.cuda() for k, v in batch.items()}).logits.cpu()
    torch.testing.assert_close(on_gpu, on_cpu, atol=2e-3, rtol=1e-3)


def _settings(root, out, **kw) -> TrainSettings:
    base = dict(model="i3d", out=str(out), root=str(root), epochs=1, batch_size=8, workers=2,
                cache_dir=str(out.parent / "cache"), device="cuda", evaluate=False)  # fmt: skip
    base.update(kw)
    return TrainSettings(**base)


@cuda
@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_train_on_cuda_writes_a_checkpoint_that_predicts_the_same_on_the_cpu(
    tiny_synth, tmp_path, amp, monkeypatch
):
    run = train(_settings(tiny_synth, tmp_path / amp, amp=amp))
    ck = load_checkpoint(run / "model.pt")
    model = build_from_checkpoint(ck).eval()
    batch = random_batch(model, 2)
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    with torch.no_grad():
        on_cpu = model(batch).logits
        on_gpu = model.cuda()({k: v.cuda() for k, v in batch.items()}).logits.cpu()
    assert torch.isfinite(on_cpu).all()
    torch.testing.assert_close(on_gpu, on_cpu, atol=2e-3, rtol=1e-3)


@cuda
def test_torchrun_with_nccl_trains_and_evaluates(tiny_synth, tmp_path):
    out = tmp_path / "nccl"
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "1",
         "-m", "core_models", "train", "--model", "part_attention", "--root", str(tiny_synth),
         "--epochs", "1", "--batch-size", "8", "--workers", "2", "--device", "cuda",
         "--cache-dir", str(tmp_path / "cache"), "--out", str(out)],
        env=ENV, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "terminate called" not in done.stderr
    assert "1 processes on cuda" in (out / "train.log").read_text()
    table, metrics = results.read_eval(out, "test")
    assert len(table) == metrics["clips"] == 28
