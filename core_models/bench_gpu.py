"""``python -m core_models bench gpu``: every model's ``paper`` preset on a CUDA device.

The ``paper`` presets are sized for GPUs (64 x 224^2 clips, 224^2 crops); this machine's tests check
them at reduced sizes on the CPU. On a CUDA device this benchmark runs each at its full published
input size, on random inputs of that shape, in one process:

* **train**: clips per second of a training step (forward and loss under autocast, backward,
  gradient clipping, an SGD step, as ``core_models.train`` does) at ``--batch`` clips, after
  warm-up steps, with the CUDA clock synchronised around the timed steps; the loss of every step
  must be finite.
* **fp16**: eight of the same step in float16 with a ``GradScaler``: whether every loss was finite
  and how many steps the scaler skipped for overflowing gradients (a few at the start, while the
  scale comes down from 65536, are normal; a model that overflows at every scale skips them all).
* **eval**: clips per second of the forward alone (``no_grad``, autocast).
* **flops**: forward FLOPs per clip (``torch.utils.flop_counter``, multiply-adds as two) and the
  rate the training step reaches (three forwards' worth per step: forward and backward) against a
  bf16 matmul (8192 x 8192 x 8192) timed in the same run.
* **memory**: the peak GPU memory of the training step.

Random inputs time the arithmetic, not the data pipeline: the DataLoader is measured on the CPU by
``bench train``. Nothing here needs a dataset.
"""

from __future__ import annotations

import math
import statistics
import time
from typing import Any

import torch

from core_models.models import MODELS, build_model

NUM_CLASSES = 60


class NoCudaDeviceError(RuntimeError):
    """``bench gpu`` on a machine where torch sees no CUDA device."""


FP16_STEPS = 8


def random_batch(model: torch.nn.Module, batch: int, *, device: torch.device | str = "cpu",
                 seed: int = 0, training: bool = True) -> dict[str, torch.Tensor]:  # fmt: skip
    """A batch of ``batch`` random clips with the shapes ``model.input_spec`` asks for, on ``device``
    (``training`` False: an evaluation batch, e.g. two-stream's test flow stacks)."""
    spec = model.input_spec
    g = torch.Generator().manual_seed(seed)
    out: dict[str, torch.Tensor] = {"label": torch.randint(0, NUM_CLASSES, (batch,), generator=g)}
    if "rgb" in model.inputs:
        out["rgb"] = (
            torch.rand(batch, 3, spec.num_frames, spec.frame_size, spec.frame_size, generator=g) * 2 - 1
        )
    if "crops" in model.inputs:
        c = spec.crops
        out["crops"] = (
            torch.rand(batch, len(c.parts), 3, spec.num_frames, c.size, c.size, generator=g) * 2 - 1
        )
    if "skeleton" in model.inputs:
        joints = getattr(model.config, "num_joints", 25)
        out["skeleton"] = torch.randn(batch, spec.skeleton_frames, spec.num_persons, joints, 3, generator=g)
    if "flow" in model.inputs:
        channels = 2 * spec.flow_frames * spec.stacks(training=training)
        out["flow"] = torch.rand(batch, channels, spec.frame_size, spec.frame_size, generator=g) * 2 - 1
    return {k: v.to(device) for k, v in out.items()}


def bf16_matmul_flops(n: int = 8192, repeats: int = 10) -> float:
    """FLOP/s of a bf16 ``n x n x n`` matmul on the current CUDA device (median of ``repeats``)."""
    a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    return 2 * n**3 / _cuda_seconds(lambda: a @ b, repeats)


def _cuda_seconds(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        torch.cuda.synchronize()
        t = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _step(model, opt, batch, dtype, scaler=None) -> float:
    with torch.autocast("cuda", dtype=dtype):
        out = model(batch)
        total, _ = model.loss(out, batch)
    opt.zero_grad(set_to_none=True)
    if scaler is None:
        total.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
    else:
        scaler.scale(total).backward()
        scaler.unscale_(opt)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        scaler.step(opt)
        scaler.update()
    return float(total.detach())


def bench_model(name: str, *, batch: int, steps: int, warmup: int = 3) -> dict[str, Any]:
    """One model's ``paper`` preset on the current CUDA device (see the module docstring)."""
    from core_models.bench_train import forward_flops

    torch.manual_seed(0)
    model = build_model(name, "paper", num_classes=NUM_CLASSES).cuda().train()
    data = random_batch(model, batch, device="cuda")
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1e-3, momentum=0.9)
    torch.cuda.reset_peak_memory_stats()
    losses = [_step(model, opt, data, torch.bfloat16) for _ in range(warmup)]
    train_s = _cuda_seconds(lambda: losses.append(_step(model, opt, data, torch.bfloat16)), steps)
    peak = torch.cuda.max_memory_allocated()

    # float16: a step whose scaled gradients overflow is skipped and the scale halved; the first
    # steps may overflow at the initial scale (65536), a model that overflows at every scale never steps.
    scaler = torch.amp.GradScaler("cuda")
    fp16, skipped = [], 0
    for _ in range(FP16_STEPS):
        before = scaler.get_scale()
        fp16.append(_step(model, opt, data, torch.float16, scaler))
        skipped += scaler.get_scale() < before

    model.eval()
    eval_data = random_batch(model, batch, device="cuda", training=False)

    def forward():
        with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
            model(eval_data)

    forward()
    eval_s = _cuda_seconds(forward, steps)
    flops = forward_flops(model, {k: v[:1] for k, v in data.items()})
    return {
        "batch": batch,
        "train_clips_s": round(batch / train_s, 1),
        "eval_clips_s": round(batch / eval_s, 1),
        "forward_gflop_per_clip": round(flops / 1e9, 1),
        "train_tflops": round(3 * flops * batch / train_s / 1e12, 1),
        "peak_gib": round(peak / 2**30, 2),
        "bf16_loss_finite": all(map(math.isfinite, losses)),
        "fp16_loss_finite": all(map(math.isfinite, fp16)),
        "fp16_steps_skipped": f"{skipped}/{FP16_STEPS}",
    }


def bench_gpu(models: tuple[str, ...] = tuple(MODELS), *, batch: int = 4, steps: int = 5) -> dict[str, Any]:
    """Every model's ``paper`` preset on the first CUDA device (:class:`NoCudaDeviceError` without one)."""
    if not torch.cuda.is_available():
        raise NoCudaDeviceError(
            "bench gpu needs a CUDA device and torch sees none (torch.cuda.is_available() is False)"
        )
    torch.backends.cudnn.benchmark = True
    matmul = bf16_matmul_flops()
    from core_models.results import machine

    out: dict[str, Any] = {
        "machine": machine(),
        "device": {
            "name": torch.cuda.get_device_name(),
            "torch": torch.__version__,
            "bf16_matmul_tflops": round(matmul / 1e12, 1),
        },  # fmt: skip
    }
    for name in models:
        try:
            row = bench_model(name, batch=batch, steps=steps)
            row["share_of_matmul"] = round(row["train_tflops"] * 1e12 / matmul, 3)
        except torch.OutOfMemoryError as e:  # report it and go on with the next model
            row = {"error": f"out of GPU memory at batch {batch}: {str(e).splitlines()[0]}"}
        out[name] = row
        torch.cuda.empty_cache()
    return out
