"""``python -m core_models bench train``: the training loop, evaluation and the models' FLOP/s, side by side.

Per model (``cpu`` preset), on clips of the synthetic dataset under ``data/synth`` (a small one is
written to a temporary folder when there is none), in one process:

* **train**: steps per second of the project's loop (:func:`core_models.train.train_epoch`: the
  DataLoader with its workers, augmentation, the step with gradient clipping, the schedule, the
  running sums and ``steps.jsonl``) and of a minimal loop on the same model and the same batch
  held in memory taking the same step (forward, loss, backward, the recipe's gradient clipping,
  optimiser step), and their ratio; also of the minimal loop without the clipping (``unclipped``),
  which is not the recipe's step but shows what the clipping costs; and the milliseconds the
  loop's DataLoader takes to hand over one batch alone (``load_ms_per_batch``: an epoch of batches
  read and dropped, the median of ``ROUNDS`` epochs), most of what the loop adds to the minimal
  one. The loops take turns, an
  epoch of the project's loop (96 clips) and then as many steps of each minimal loop, for at
  least ``ROUNDS`` rounds and ``TRAIN_STEPS`` steps, and the ratio is the median of the rounds'
  ratios (with its quartiles), so that the machine's speed, which drifts by 10% and more within
  a minute on a shared virtual machine, moves both sides of each ratio alike.
* **evaluate**: seconds of :func:`core_models.evaluate.predict_rows` over the clips (loading,
  forward, probabilities and attention summaries) against the pure forward over the same clips
  already collated in memory, and their ratio; taking turns the same way (``ROUNDS`` passes each).
* **flops**: the forward's floating-point operations per clip (``torch.utils.flop_counter``,
  multiply-adds counted as two) and the FLOP/s this reaches at the training batch and at batch 1
  (the median of ``FORWARDS`` forwards each), against a float32 matmul (1024 x 1024) timed in the
  same run.

Timings depend on the machine and on what else runs on it; the result says on which machine and
records the load average.
"""

from __future__ import annotations

import math
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from core_models.results import machine

MODELS = (
    "skeleton_lstm", "i3d", "part_attention", "separable_sta", "temporal_granularity", "glimpse_clouds",
    "soft_attention_lstm", "self_attention",
)  # fmt: skip
CLIPS = 96  # clips of each split the benchmark reads
ROUNDS = 9  # the fewest interleaved rounds (training: an epoch of each loop; evaluation: a pass)
TRAIN_STEPS = 90  # the fewest training steps each loop takes over its rounds
FORWARDS = 9  # forwards timed for the FLOP/s (their median; 3 moved a model's share by a fifth)


def matmul_flops(n: int = 1024, repeats: int = 10) -> float:
    """FLOP/s of a float32 ``n x n`` matmul on this machine (median of ``repeats``)."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t)
    return 2 * n**3 / statistics.median(times)


def _recurrent_flops(input_shape, weights) -> int:
    """Multiply-adds (as two) of a recurrent layer: every step of every sequence multiplies its
    input and its hidden state by the gate matrices (the 2D ``weights``); the gates' elementwise
    work is left out, as PyTorch's counter leaves it out of every other op. ``input_shape``:
    ``(T, B, I)`` or ``(B, T, I)``, or a packed sequence's ``(steps of all sequences, I)``."""
    rows = input_shape[0] if len(input_shape) == 2 else input_shape[0] * input_shape[1]
    return 2 * rows * sum(math.prod(w) for w in weights if w is not None and len(w) == 2)


def _mkldnn_rnn_layer_flops(input_shape, w_ih, w_hh, *args, out_shape=None, **kwargs) -> int:
    """``aten.mkldnn_rnn_layer`` (a CPU LSTM's layer and direction, what ``nn.LSTM`` runs on the
    CPU): uncounted by ``FlopCounterMode``, which read the skeleton LSTM as 0 FLOPs."""
    return _recurrent_flops(input_shape, (w_ih, w_hh))


def _cudnn_rnn_flops(input_shape, weights, *args, out_shape=None, **kwargs) -> int:
    """``aten._cudnn_rnn`` (every layer and direction of a cuDNN LSTM or GRU at once; each
    direction's matrices are in ``weights`` and each reads every step)."""
    return _recurrent_flops(input_shape, weights)


def forward_flops(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> float:
    """FLOPs of one forward pass of ``model`` on ``batch`` (multiply-adds as two), recurrent layers
    included (their fused kernels are not in PyTorch's table; a GRU on the CPU is made of matrix
    products that are)."""
    from torch.utils.flop_counter import FlopCounterMode

    aten = torch.ops.aten
    mapping = {aten.mkldnn_rnn_layer: _mkldnn_rnn_layer_flops, aten._cudnn_rnn: _cudnn_rnn_flops}
    counter = FlopCounterMode(display=False, custom_mapping=mapping)
    with torch.no_grad(), counter:
        model(batch)
    return float(counter.get_total_flops())


def _seconds(fn, repeats: int = 3) -> float:
    fn()  # warm-up
    return statistics.median(_timed(fn) for _ in range(repeats))


def _ratio(name: str, num: list[float], den: list[float]) -> dict[str, Any]:
    """``name``: the median over the rounds of each round's ratio, and ``name_quartiles``: its
    lower and upper quartiles (how much the machine's speed moved the pairs)."""
    ratios = [a / b for a, b in zip(num, den, strict=True)]
    q1, _, q3 = statistics.quantiles(ratios, n=4)
    return {name: round(statistics.median(ratios), 2), f"{name}_quartiles": [round(q1, 2), round(q3, 2)]}


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _data_root(tmp: Path) -> Path:
    root = Path("data/synth")
    if root.is_dir():
        return root
    from core_models.synth import write_dataset

    root = tmp / "synth"
    write_dataset(root, subjects=(1, 2, 4, 5), cameras=(1,), repetitions=(1,), workers=1, progress=False)
    return root


def bench_model(
    name: str, root: Path, tmp: Path, *, workers: int, cache_dir: str, rounds: int = ROUNDS,
    train_steps: int = TRAIN_STEPS,
) -> dict[str, Any]:  # fmt: skip
    """The three measures above for one model (see the module docstring; ``rounds`` and
    ``train_steps``: at least so many rounds, and training steps of each loop)."""
    from torch.utils.data import DataLoader

    from core_models.checkpoint import unwrap
    from core_models.data.datasets import collate_items
    from core_models.evaluate import predict_rows
    from core_models.train import (
        TrainSettings,
        make_optimisation,
        make_optimizer,
        open_run_data,
        start_run,
        train_epoch,
    )

    s = TrainSettings(model=name, out=str(tmp / f"run-{name}"), root=str(root), limit=CLIPS, epochs=10_000,
                      workers=workers, cache_dir=cache_dir, evaluate=False)  # fmt: skip
    run = start_run(s)
    open_run_data(run)
    make_optimisation(run)
    model, per_epoch = run.model, len(run.train_loader)
    batch = next(
        iter(DataLoader(run.train_ds, batch_size=run.s.batch_size, shuffle=False, collate_fn=collate_items))
    )
    minimal_opt = make_optimizer(model, run.s)
    params = [p for p in model.parameters() if p.requires_grad]

    def minimal(steps: int, clip: bool = True) -> None:
        model.train()
        for _ in range(steps):
            out = model(batch)
            loss, _ = unwrap(model).loss(out, batch)
            minimal_opt.zero_grad(set_to_none=True)
            loss.backward()
            if clip:  # the recipe's step clips the gradient's norm (``clip_grad``)
                torch.nn.utils.clip_grad_norm_(params, run.s.clip_grad)
            minimal_opt.step()

    train_epoch(run, 0)  # warm-up: workers start, first-touch allocations
    minimal(2)
    train_rounds = max(rounds, -(-train_steps // per_epoch))  # an epoch a round
    loop, clipped, bare = [], [], []
    for r in range(train_rounds):
        loop.append(_timed(lambda r=r: train_epoch(run, 1 + r)))
        clipped.append(_timed(lambda: minimal(per_epoch)))
        bare.append(_timed(lambda: minimal(per_epoch, clip=False)))
    steps = train_rounds * per_epoch

    def load_epoch(r: int) -> None:
        run.train_ds.set_epoch(1 + r)
        run.train_loader.sampler.set_epoch(1 + r)
        for _ in run.train_loader:
            pass

    loads = [_timed(lambda r=r: load_epoch(r)) for r in range(rounds)]

    eval_ds = run.val_ds or run.train_ds
    loader = DataLoader(eval_ds, batch_size=16, shuffle=False, collate_fn=collate_items)
    batches = list(loader)
    model.eval()

    def pure_forward() -> None:
        with torch.no_grad():
            for b in batches:
                model(b)

    def evaluate() -> None:
        predict_rows(
            model, eval_ds, batch_size=16, device=torch.device("cpu"), workers=workers, progress=False
        )

    evaluate()  # warm-up
    evals, forwards = [], []
    for _ in range(rounds):
        evals.append(_timed(evaluate))
        forwards.append(_timed(pure_forward))

    one = {k: v[:1] for k, v in batch.items()}
    flops = forward_flops(model, one)
    with torch.no_grad():
        t1 = _seconds(lambda: model(one), repeats=FORWARDS)
        tb = _seconds(lambda: model(batch), repeats=FORWARDS)
    n = len(batch["label"])
    return {
        "batch": n,
        "train_steps_per_s": round(steps / sum(loop), 2),
        "minimal_steps_per_s": round(steps / sum(clipped), 2),
        **_ratio("train_x_minimal", clipped, loop),
        "minimal_unclipped_steps_per_s": round(steps / sum(bare), 2),
        **_ratio("train_x_minimal_unclipped", bare, loop),
        "load_ms_per_batch": round(1e3 * statistics.median(loads) / per_epoch, 1),
        "rounds": train_rounds,
        "steps_per_round": per_epoch,
        "evaluate_s": round(statistics.median(evals), 2),
        "forward_s": round(statistics.median(forwards), 2),
        **_ratio("evaluate_x_forward", evals, forwards),
        "eval_clips": len(eval_ds),
        "gflop_per_clip": round(flops / 1e9, 3),
        "gflops_batch": round(n * flops / tb / 1e9, 1),
        "gflops_batch1": round(flops / t1 / 1e9, 1),
    }


def bench_train(models: tuple[str, ...] = MODELS, *, workers: int = 1, cache_dir: str = ".cache/prepared"):
    """Every model of ``models``: the train / minimal loops, evaluate / forward and FLOP/s."""
    import logging

    logging.getLogger("core_models.train").disabled = True  # the runs' own log lines
    os.environ.setdefault("CORE_MODELS_NO_PROGRESS", "1")
    out: dict[str, Any] = {"machine": machine(), "load average": {"at start": round(os.getloadavg()[0], 1)}}
    mm = matmul_flops()
    out["matmul"] = {"gflops": round(mm / 1e9, 1), "size": "1024x1024 float32"}
    with tempfile.TemporaryDirectory() as tmp:
        root = _data_root(Path(tmp))
        for name in models:
            row = bench_model(name, root, Path(tmp), workers=workers, cache_dir=cache_dir)
            row["batch_x_matmul"] = round(row["gflops_batch"] * 1e9 / mm, 3)
            row["batch1_x_matmul"] = round(row["gflops_batch1"] * 1e9 / mm, 3)
            out[name] = row
    out["matmul"]["gflops_at_end"] = round(matmul_flops() / 1e9, 1)
    out["load average"]["at end"] = round(os.getloadavg()[0], 1)
    return out
