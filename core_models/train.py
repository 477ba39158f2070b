"""Training: one plain loop for every model, on one CPU, one GPU, or many under ``torchrun``.

``python -m core_models train --model NAME --preset cpu --data synth --root DIR --protocol cs
--out RUN_DIR`` fills :class:`TrainSettings` from the command line, saves them in the run, and
trains. What happens, in order:

1. The reader lists the protocol's train / val / test clips; rank 0 prepares every clip once into
   the on-disk cache (``core_models.data.datasets``); the other ranks wait.
2. The model is built from its preset (``--set key=value`` overrides config fields, e.g.
   ``--set lambda_spatial=0``), optionally initialised from an earlier run's weights (``--init``)
   and put in a training stage (``--stage``) for the staged schedules of the papers.
3. Each epoch (until the step budget is spent or validation levels off): a progress bar with the
   running loss and accuracy; gradient clipping; mixed
   precision on CUDA; a validation pass; ``last.pt`` written atomically with the optimiser,
   scheduler and RNG state (``--resume`` continues from it, repeating the interrupted epoch
   exactly); ``best.pt`` when the validation accuracy improves; a line in ``history.jsonl``.
4. At the end, the best weights are exported compact as ``model.pt`` and evaluated on the test
   split into the results store (``core_models.results``).

A loss that becomes NaN or infinite stops the run at once with the step and the loss terms in
the message; ``last.pt`` still holds the last good epoch.

Distributed: under ``torchrun --nproc_per_node N`` every process reads ``RANK``/``WORLD_SIZE``,
joins a process group (NCCL on GPUs, gloo on CPUs), wraps the model in DDP and reads its share of
each epoch through a ``DistributedSampler``. ``--batch-size`` is the global batch, split evenly
over the processes, so the same settings give the same optimisation on 1 or N processes (a test
checks two gloo processes against one). Only rank 0 logs, writes files and evaluates the
collected predictions.

Recipes (:data:`RECIPES`): every setting left unset on the command line comes from the model's
recipe for its preset. ``paper`` follows the authors where their code says (SGD 0.01 momentum 0.9
for the I3D family, Adam 1e-3 with norm clipping 1 for the pose networks, Adam 1e-4 for Glimpse
Clouds); ``cpu`` uses AdamW with a short linear warm-up and a cosine decay over a budget in
optimiser steps, and stops earlier when validation top-1 has not improved for ``patience`` epochs
(the curves are the rows of ``history.jsonl``). ``--epochs N`` alone trains N passes instead.

:func:`train` reads as its steps: :func:`start_run` (settings, device, process group, log),
:func:`open_run_data` (reader, model, datasets, cache), :func:`make_optimisation` (loaders,
optimiser, schedule over the budget), :func:`restore` (``--resume``), :func:`fit` (epochs of
:func:`train_epoch`, validation and :func:`record_epoch`, until the budget or the patience) and
:func:`finish` (``model.pt``, out-of-distribution statistics, the test evaluation).
"""

from __future__ import annotations

import gc
import logging
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler

from core_models import results
from core_models.checkpoint import (
    FORMAT,
    build_model_with,
    check_checkpoint,
    compact_state,
    config_dict,
    load_checkpoint,
    load_weights,
    save_checkpoint,
    unwrap,
)
from core_models.data.datasets import collate_items, loader_workers

log = logging.getLogger("core_models.train")

DATA_KINDS = ("synth", "ntu", "nucla", "smarthome", "ucf101")


@dataclass(frozen=True)
class Recipe:
    """How a model trains by default. ``steps`` (optimiser steps, 0: ``epochs`` passes) is the
    budget; ``patience`` (0: off) stops a run once validation top-1 has not improved for that many
    epochs, i.e. has levelled off, so a budget can be generous without wasting it."""

    optimizer: str = "adamw"
    lr: float = 1e-3
    weight_decay: float = 1e-4
    epochs: int = 12
    batch_size: int = 16
    warmup_epochs: float = 1.0
    clip_grad: float = 5.0
    steps: int = 0
    patience: int = 0
    mirror: bool = True
    jitter: bool = False
    squeeze: float = 0.0
    mixup: float = 0.0


_PAPER_I3D = Recipe(optimizer="sgd", lr=0.01, weight_decay=1e-7, epochs=100, batch_size=16, warmup_epochs=0)
_PAPER_POSE = Recipe(optimizer="adam", lr=1e-3, weight_decay=0.0, epochs=100, batch_size=32,
                     warmup_epochs=0, clip_grad=1.0)  # fmt: skip
# soft-attention LSTM, self-attention, late fusion; two-stream and STN with a squeeze
DEFAULT_RECIPE = {"cpu": Recipe(lr=2e-3, steps=2400, patience=6), "paper": _PAPER_I3D}
# squeezed left to right by up to 0.3: on three seeds' means two-stream's CV stands 0.014 under
# its CS (0.050 without; two_stream.py) and STN's 0.029 (0.055; stn.py)
_SQUEEZED_RECIPE = {"cpu": replace(DEFAULT_RECIPE["cpu"], squeeze=0.3), "paper": _PAPER_I3D}
# cpu budgets: what each model's measured clips/s on two cores allows in at most about 20 minutes
# (a CS epoch is 57 steps of 16 clips); patience ends a run sooner once validation levels off.
RECIPES: dict[str, dict[str, Recipe]] = {
    "skeleton_lstm": {"cpu": Recipe(lr=3e-3, batch_size=32, steps=3000, patience=8), "paper": _PAPER_POSE},
    "i3d": {  # jitter and weight decay 0.05: CS seeds 0.410 / 0.241, 0.269 / 0.253 without (i3d_baseline.py)
        "cpu": Recipe(lr=3e-4, weight_decay=0.05, steps=2000, patience=6, jitter=True),
        "paper": _PAPER_I3D,
    },
    "i3d_nl": {"cpu": Recipe(lr=3e-4, steps=2000, patience=6), "paper": _PAPER_I3D},
    "part_attention": {  # no patience: 168 validation clips dip by chance (see part_attention.py)
        "cpu": Recipe(lr=2e-3, weight_decay=0.05, steps=2600, jitter=True),
        "paper": _PAPER_I3D,
    },
    "separable_sta": {"cpu": Recipe(lr=2e-3, steps=1800), "paper": _PAPER_I3D},  # no patience: as above
    "temporal_granularity": {"cpu": Recipe(lr=2e-3, steps=1000, patience=5), "paper": _PAPER_POSE},
    "two_stream": _SQUEEZED_RECIPE,
    "stn": _SQUEEZED_RECIPE,
    "glimpse_clouds": {  # each stage of the two-stage schedule (the glimpse stage's rate: STAGE_RECIPES)
        # The backbone stage: at 600 steps its validation was still rising (0.19); 1,500 steps of a
        # CS run reached 0.40, levelling off from about step 1,100 (glimpse_clouds.py).
        "cpu": Recipe(lr=3e-4, steps=1200, patience=4),
        "paper": Recipe(
            optimizer="adam", lr=1e-4, weight_decay=0.0, epochs=10, batch_size=10, warmup_epochs=0
        ),
    },
}
PATIENCE_FROM = 0.5  # the share of the step budget after which patience may stop a run


# A stage of a staged model that trains differently from the model's recipe. Glimpse Clouds'
# glimpse stage trains the location network, memory and workers from scratch on the frozen
# backbone; at the backbone's 3e-4 it ended at 0.134 CS test top-1 (best validation 0.17), at 1e-3
# 0.156 (0.23), one seed each from the same stage-1 weights (glimpse_clouds.py). At 1e-3 a 600-step
# budget could end with validation still rising (cross-view); 900 steps let patience stop it.
STAGE_RECIPES: dict[tuple[str, str], dict[str, Recipe]] = {
    ("glimpse_clouds", "glimpses"): {"cpu": replace(RECIPES["glimpse_clouds"]["cpu"], lr=1e-3, steps=900)},
}


def recipe_for(model: str, preset: str, stage: str | None = None) -> Recipe:
    staged = STAGE_RECIPES.get((model, stage or ""), {})
    if preset in staged:
        return staged[preset]
    return RECIPES.get(model, DEFAULT_RECIPE).get(preset, DEFAULT_RECIPE[preset])


SYNTH_TRAIN_CLIPS = 924  # the built-in synthetic dataset's cross-subject training split


def budget_epochs(model: str, preset: str = "cpu", train_clips: int = SYNTH_TRAIN_CLIPS) -> int:
    """A recipe's step budget as passes over a training split of ``train_clips`` clips (the Train
    page's default number of epochs); a recipe without a step budget gives its ``epochs``."""
    r = recipe_for(model, preset)
    if not r.steps:
        return r.epochs
    return max(1, math.ceil(r.steps / math.ceil(train_clips / r.batch_size)))


@dataclass
class TrainSettings:
    """Every setting of a run (saved as ``settings.json``). ``None`` means "the model's recipe"."""

    model: str
    out: str
    preset: str = "cpu"
    data: str = "synth"
    root: str = "data/synth"
    protocol: str = "cs"
    epochs: int | None = None
    steps: int | None = None
    patience: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    weight_decay: float | None = None
    optimizer: str | None = None
    warmup_epochs: float | None = None
    clip_grad: float | None = None
    mirror: bool | None = None
    jitter: bool | None = None
    squeeze: float | None = None
    mixup: float | None = None
    amp: str = "auto"
    stage: str | None = None
    init: str | None = None
    init_map: str | None = None
    overrides: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    workers: int = 1
    memory_mb: int = 2048
    cache_dir: str = ".cache/prepared"
    limit: int = 0
    max_steps: int = 0
    device: str = "auto"
    evaluate: bool = True
    resume: bool = False

    def resolved(self) -> TrainSettings:
        """These settings with every ``None`` filled from the recipe (``--epochs`` alone means
        epochs, not the recipe's step budget)."""
        r = recipe_for(self.model, self.preset, self.stage)
        values = asdict(self)
        if self.epochs is not None and self.steps is None:
            values["steps"] = 0
        for f in fields(Recipe):
            if values.get(f.name) is None:
                values[f.name] = getattr(r, f.name)
        return TrainSettings(**values)


def check_settings(s: TrainSettings) -> None:
    """Refuse values no run can use (``--epochs 0``, ``--lr -1``), before anything is read or built.

    Raises:
        SystemExit: naming the option, the value and what is accepted.
    """
    rules = (
        ("epochs", lambda v: isinstance(v, int) and v >= 1, "an integer of at least 1"),
        ("steps", lambda v: isinstance(v, int) and v >= 0, "an integer >= 0 (0: --epochs passes)"),
        ("patience", lambda v: isinstance(v, int) and v >= 0, "an integer >= 0 (0: no early stop)"),
        ("batch_size", lambda v: isinstance(v, int) and v >= 1, "an integer of at least 1"),
        ("lr", lambda v: isinstance(v, int | float) and math.isfinite(v) and v > 0, "a positive number"),
        (
            "weight_decay",
            lambda v: isinstance(v, int | float) and math.isfinite(v) and v >= 0,
            "a number >= 0",
        ),
        (
            "warmup_epochs",
            lambda v: isinstance(v, int | float) and math.isfinite(v) and v >= 0,
            "a number >= 0",
        ),
        ("clip_grad", lambda v: isinstance(v, int | float) and v > 0, "a positive number"),
        ("squeeze", lambda v: isinstance(v, int | float) and 0 <= v < 1, "a number in [0, 1)"),
        ("mixup", lambda v: isinstance(v, int | float) and math.isfinite(v) and v >= 0, "a number >= 0"),
        ("workers", lambda v: isinstance(v, int) and v >= 0, "an integer >= 0"),
        ("memory_mb", lambda v: isinstance(v, int) and v >= 0, "an integer >= 0 (0: none)"),
        ("limit", lambda v: isinstance(v, int) and v >= 0, "an integer >= 0 (0: every clip)"),
        ("max_steps", lambda v: isinstance(v, int) and v >= 0, "an integer >= 0 (0: no limit)"),
        ("seed", lambda v: isinstance(v, int) and 0 <= v < 2**63, "an integer >= 0"),
        ("amp", lambda v: v in ("auto", "bf16", "fp16", "off"), "auto, bf16, fp16 or off"),
        ("device", lambda v: v in ("auto", "cpu", "cuda"), "auto, cpu or cuda"),
        ("preset", lambda v: v in ("cpu", "paper"), "cpu or paper"),
    )
    for name, ok, expected in rules:
        value = getattr(s, name)
        if isinstance(value, bool) or not ok(value):
            raise SystemExit(f"--{name.replace('_', '-')} {value!r}: expected {expected}")


class TrainingDivergedError(RuntimeError):
    """The loss became NaN or infinite; the message says where, ``last.pt`` is the last good state."""


# ---------------------------------------------------------------------------------------------
# distributed


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1


def init_distributed(device_kind: str) -> Dist:
    """Join the process group ``torchrun`` describes in the environment (or run alone)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    import torch.distributed as dist

    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_kind == "cuda" else "gloo")
    return Dist(rank=rank, world=world, local_rank=local)


def close_distributed(d: Dist, wait: bool = True) -> None:
    """Leave the process group: every rank waits for the others (unless ``wait`` is false, on an
    error path where a peer may never arrive), then the group is destroyed, so that no collective
    thread is still alive when the interpreter exits (gloo aborts the process with "terminate
    called without an active exception" otherwise)."""
    if not d.active:
        return
    import torch.distributed as dist

    if dist.is_initialized():
        if wait:
            dist.barrier()
        dist.destroy_process_group()


def _barrier(d: Dist) -> None:
    if d.active:
        import torch.distributed as dist

        dist.barrier()


def _all_sum(d: Dist, values: list[float], device: torch.device) -> list[float]:
    if not d.active:
        return values
    import torch.distributed as dist

    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def pick_device(setting: str, d: Dist) -> torch.device:
    if setting == "auto":
        setting = "cuda" if torch.cuda.is_available() else "cpu"
    if setting == "cuda":
        if not torch.cuda.is_available():
            raise SystemExit("--device cuda was asked for but no CUDA device is available")
        torch.cuda.set_device(d.local_rank)
        return torch.device("cuda", d.local_rank)
    return torch.device(setting)


def amp_dtype(setting: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype: ``auto`` is bf16 on CUDA when supported, else fp16; never on CPU."""
    if setting == "off" or device.type != "cuda":
        if setting in ("bf16", "fp16") and device.type != "cuda":
            log.warning("mixed precision %s is only used on CUDA; training in float32 on %s", setting, device)
        return None
    if setting == "bf16" or (setting == "auto" and torch.cuda.is_bf16_supported()):
        return torch.bfloat16
    return torch.float16


# ---------------------------------------------------------------------------------------------
# data


def open_data(s: TrainSettings):
    """The reader and the protocol's train / val / test clips (``--limit`` keeps the first N of each)."""
    from core_models.data import open_reader

    root = Path(s.root)
    if s.data == "synth" and not root.is_dir():
        raise SystemExit(
            f"no synthetic dataset at {root}; make it with `python -m core_models synth --out {root}` "
            "(about 2 minutes on two cores)"
        )
    reader = open_reader(s.data, root)
    splits = {}
    for subset in ("train", "val", "test"):
        refs = reader.split(s.protocol, subset)
        if s.limit:
            refs = _spread(refs, s.limit)
        splits[subset] = refs
    if not splits["train"]:
        raise SystemExit(f"{reader.summary()}: protocol {s.protocol} has no training clips")
    return reader, splits


def _spread(refs: list, n: int) -> list:
    """``n`` clips taken evenly over the list (so a small run still sees every class)."""
    if len(refs) <= n:
        return refs
    step = len(refs) / n
    return [refs[int(i * step)] for i in range(n)]


def make_dataset(reader, refs, model, s: TrainSettings, *, train: bool):
    """The split's ClipDataset. The training split keeps up to ``memory_mb`` of prepared clips in
    memory after their first read (in the loader's persistent worker), decompressed while the
    budget has room (``ClipDataset._keep``), so later epochs neither read nor decompress the
    on-disk cache again; the validation split, read whole every epoch, keeps up to a quarter."""
    from core_models.data.datasets import ClipDataset

    budget = s.memory_mb * 2**20 if train else s.memory_mb * 2**20 // 4
    return ClipDataset(
        reader, refs, model.input_spec, train=train, cache_dir=s.cache_dir or None,
        protocol=s.protocol, seed=s.seed, keep_in_memory=s.memory_mb > 0, memory_budget=budget,
        # the augmentations touch a training set only (ignored for evaluation)
        mirror=bool(s.mirror), jitter=bool(s.jitter), squeeze=float(s.squeeze or 0.0),
        reads=tuple(getattr(model, "inputs", ())) or None,
    )  # fmt: skip


def make_loader(
    ds, batch: int, d: Dist, *, shuffle: bool, seed: int, workers: int, drop_last: bool, device=None
):
    """The split's loader; on a CPU whose cores the model's threads already take, in-process
    (``data.datasets.loader_workers``)."""
    workers = loader_workers(workers, device) if device is not None else workers
    sampler = DistributedSampler(
        ds, num_replicas=d.world, rank=d.rank, shuffle=shuffle, seed=seed, drop_last=drop_last
    )
    return DataLoader(
        ds, batch_size=batch, sampler=sampler, num_workers=workers, drop_last=drop_last,
        persistent_workers=workers > 0, pin_memory=torch.cuda.is_available(), collate_fn=collate_items,
    )  # fmt: skip


def to_device(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


# ---------------------------------------------------------------------------------------------
# optimisation


def make_optimizer(model: nn.Module, s: TrainSettings) -> torch.optim.Optimizer:
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (no_decay if p.ndim <= 1 or name.endswith(".bias") else decay).append(p)
    groups = [{"params": decay, "weight_decay": s.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    # foreach: each update is a few ops over all tensors at once instead of a few per tensor (the
    # default on CUDA, not on the CPU), with the same values bit for bit (a test checks). On the
    # 2-core CPU part attention's AdamW update (163 tensors) took 5.7 ms against 9.4 ms, its whole
    # step 214.7 against 222.5 ms; the small models' steps did not change beyond the noise
    if s.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=s.lr, momentum=0.9, foreach=True)
    if s.optimizer == "adam":
        return torch.optim.Adam(groups, lr=s.lr, foreach=True)
    if s.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=s.lr, foreach=True)
    raise SystemExit(f"unknown optimizer {s.optimizer!r}; choose adamw, adam or sgd")


def make_schedule(opt: torch.optim.Optimizer, s: TrainSettings, steps_per_epoch: int):
    """Linear warm-up over ``warmup_epochs``, then cosine decay to 1% of the rate at the end of the
    step budget (:func:`budget_steps`; a run stopped early by ``patience`` ends above it)."""
    total = budget_steps(s, steps_per_epoch)
    warm = min(total // 2, int(s.warmup_epochs * steps_per_epoch))

    def factor(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        progress = min(1.0, (step - warm) / max(1, total - warm))
        return 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * progress))

    return torch.optim.lr_scheduler.LambdaLR(opt, factor)


# ---------------------------------------------------------------------------------------------
# the run


def setup_logging(run_dir: Path, d: Dist) -> None:
    log.setLevel(logging.INFO)
    for h in list(log.handlers):
        log.removeHandler(h)
        h.close()
    if not d.main:
        log.addHandler(logging.NullHandler())
        log.propagate = False
        return
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%Y-%m-%d %H:%M:%S")
    fh = logging.FileHandler(run_dir / "train.log")
    fh.setFormatter(fmt)
    sh = logging.StreamHandler(sys.stderr)
    sh.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(fh)
    log.addHandler(sh)
    log.propagate = False


def build_for_run(s: TrainSettings, num_classes: int, layout_name: str) -> nn.Module:
    try:
        model = build_model_with(
            s.model, s.preset, num_classes=num_classes, layout_name=layout_name, config=s.overrides or None
        )
    except (TypeError, ValueError) as e:
        raise SystemExit(f"cannot build {s.model}/{s.preset} with overrides {s.overrides}: {e}") from None
    if s.init:
        ckpt = load_checkpoint(s.init)
        check_checkpoint(ckpt, s.init)  # its own model must hold up before any tensor is taken
        state = rename_prefix(ckpt["state_dict"], s.init_map) if s.init_map else ckpt["state_dict"]
        own = model.state_dict()
        usable = {k: v for k, v in state.items() if k in own and tuple(v.shape) == tuple(own[k].shape)}
        if not usable:
            raise SystemExit(f"--init {s.init}: no tensor of it fits {s.model}/{s.preset}")
        model.load_state_dict({k: v.to(own[k].dtype) for k, v in usable.items()}, strict=False)
        log.info("initialised %d of %d tensors from %s", len(usable), len(own), s.init)
    if s.stage:
        stages = getattr(model, "stages", None)
        if not stages or s.stage not in stages:
            raise SystemExit(f"{s.model} has no training stage {s.stage!r}; it has {stages or 'none'}")
        model.set_stage(s.stage)
    return model


def rename_prefix(state: dict[str, torch.Tensor], mapping: str) -> dict[str, torch.Tensor]:
    """The tensors of ``state`` under the prefix ``OLD`` of ``mapping`` (``"OLD=NEW"``), renamed to
    start with ``NEW`` instead: ``parts.full_body.=backbone.`` takes part attention's full-body
    trunk as a whole-frame I3D's backbone. Tensors outside ``OLD`` are left out."""
    if mapping.count("=") != 1:
        raise SystemExit(f"--init-map {mapping!r}: expected OLD=NEW, e.g. parts.full_body.=backbone.")
    old, new = mapping.split("=")
    out = {new + k[len(old) :]: v for k, v in state.items() if k.startswith(old)}
    if not out:
        raise SystemExit(f"--init-map {mapping!r}: no tensor of the --init checkpoint starts with {old!r}")
    return out


def _layout_name(reader) -> str:
    from core_models.data.layouts import LAYOUTS

    layout = getattr(reader, "layout", None)
    for name, lay in LAYOUTS.items():
        if lay is layout or (layout is not None and lay.name == getattr(layout, "name", None)):
            return name
    return "ntu25"


def data_version(s: TrainSettings) -> int | None:
    """The synthetic data version a run trains on (``synth.json``), ``None`` for real datasets."""
    if s.data != "synth":
        return None
    from core_models.synth.generate import written_version

    return written_version(s.root)


def checkpoint_payload(model, s: TrainSettings, *, reader, epoch: int, step: int, metrics: dict) -> dict:
    m = unwrap(model)
    return {
        "format": FORMAT,
        "model": s.model,
        "preset": s.preset,
        "config": config_dict(m.config),
        "num_classes": int(m.config.num_classes),
        "layout": _layout_name(reader),
        "class_names": list(reader.classes_for(s.protocol)),
        "data": {"kind": s.data, "protocol": s.protocol, "root": str(s.root), "version": data_version(s)},
        "settings": _jsonable(asdict(s)),
        "epoch": epoch,
        "step": step,
        "metrics": metrics,
        "state_dict": {k: v.detach().cpu() for k, v in m.state_dict().items()},
    }


def _jsonable(d: dict) -> dict:
    return {
        k: (v if isinstance(v, (str, int, float, bool, type(None), list, dict)) else str(v))
        for k, v in d.items()
    }


def _set_train_mode(model: nn.Module, s: TrainSettings) -> None:
    model.train()
    m = unwrap(model)
    if s.stage and hasattr(m, "set_stage"):
        m.set_stage(s.stage)  # a stage may put frozen parts back in eval mode


def budget_steps(s: TrainSettings, steps_per_epoch: int) -> int:
    """The optimiser steps a run may take: ``steps`` (else ``epochs`` passes), capped by ``max_steps``."""
    total = s.steps or (s.epochs or 1) * steps_per_epoch
    if s.max_steps:
        total = min(total, s.max_steps)
    return max(1, total)


@dataclass
class Run:
    """What a run holds while it trains; the named steps of :func:`train` fill it in turn."""

    s: TrainSettings
    dir: Path
    d: Dist
    device: torch.device
    dtype: torch.dtype | None
    reader: Any = None
    splits: dict = field(default_factory=dict)
    model: nn.Module | None = None
    train_ds: Any = None
    val_ds: Any = None
    train_loader: Any = None
    val_loader: Any = None
    opt: Any = None
    sched: Any = None
    scaler: Any = None
    epochs: int = 0  # passes over the training split the step budget allows
    budget: int = 0  # optimiser steps (:func:`budget_steps`)
    start_epoch: int = 0
    step: int = 0
    best: dict = field(default_factory=lambda: {"val_top1": -1.0})
    elapsed: float = 0.0


def train(s: TrainSettings) -> Path:
    """Train one run; returns its directory. See the module docstring."""
    run = start_run(s)
    open_run_data(run)
    make_optimisation(run)
    restore(run)
    fit(run)
    finish(run)
    d, run_dir = run.d, run.dir
    # The DDP wrapper and the loaders hold the process group: drop them before the group is
    # destroyed, or the group's threads live on until interpreter exit, where gloo may abort.
    del run
    gc.collect()
    close_distributed(d)
    return run_dir


def start_run(s: TrainSettings) -> Run:
    """Settings resolved and checked, the device and process group, the run directory and its log."""
    run_dir = Path(s.out)
    if s.resume:
        s = _resume_settings(run_dir)
    s = s.resolved()
    check_settings(s)
    if s.model not in _models():
        raise SystemExit(f"unknown model {s.model!r}; choose one of {', '.join(_models())}")
    if s.data not in DATA_KINDS:
        raise SystemExit(f"unknown data {s.data!r}; choose one of {', '.join(DATA_KINDS)}")
    if s.mixup and s.model not in MIXUP_MODELS:  # before anything is written (a test checks the list)
        raise SystemExit(
            f"--mixup {s.mixup}: {s.model} reads inputs that cannot be blended clip with clip (a pose, or "
            f"crops placed by one); mixup is for the models that read whole RGB clips only: "
            f"{', '.join(MIXUP_MODELS)}"
        )
    device_kind = (
        "cuda" if (s.device == "cuda" or (s.device == "auto" and torch.cuda.is_available())) else "cpu"
    )
    d = init_distributed(device_kind)
    if s.batch_size % d.world:
        raise SystemExit(f"--batch-size {s.batch_size} must be divisible by the {d.world} processes")
    device = pick_device(s.device, d)
    if d.main:
        results.check_writable(run_dir)  # before any data is read or anything computed
    else:
        run_dir.mkdir(parents=True, exist_ok=True)
    if not s.resume and (run_dir / "last.pt").exists():
        raise SystemExit(
            f"{run_dir} already holds a run; pass --resume to continue it or choose another --out"
        )
    setup_logging(run_dir, d)
    torch.manual_seed(s.seed + d.rank)
    return Run(s=s, dir=run_dir, d=d, device=device, dtype=amp_dtype(s.amp, device))


def open_run_data(run: Run) -> None:
    """The reader, the splits, the model and its datasets; rank 0 prepares the on-disk cache."""
    s, d = run.s, run.d
    run.reader, run.splits = reader, splits = open_data(s)
    num_classes = reader.num_classes(s.protocol)
    run.model = model = build_for_run(s, num_classes, _layout_name(reader)).to(run.device)
    run.train_ds = make_dataset(reader, splits["train"], model, s, train=True)
    run.val_ds = make_dataset(reader, splits["val"], model, s, train=False) if splits["val"] else None
    if d.main:
        results.write_json(
            run.dir / "settings.json",
            {
                **asdict(s),
                "data_version": data_version(s),
                "commit": results.git_commit(),
                "config": config_dict(model.config),
            },
        )
        results.set_status(run.dir, "running", **results.running_status())
        log.info("%s; %s/%s, %d train / %d val / %d test clips, %d classes, %d processes on %s",
                 reader.summary(), s.model, s.preset, len(run.train_ds), len(run.val_ds or []),
                 len(splits["test"]), num_classes, d.world, run.device)  # fmt: skip
        if s.cache_dir:
            started = time.time()
            for ds in (run.train_ds, run.val_ds):
                if ds is not None:
                    ds.warm_cache(
                        progress=_show_progress(), on_clip=_progress_writer(run.dir, "prepare", started)
                    )
    _barrier(d)


def make_optimisation(run: Run) -> None:
    """Loaders, optimiser, schedule over the step budget, gradient scaler."""
    s, d = run.s, run.d
    per_proc = s.batch_size // d.world
    run.train_loader = make_loader(
        run.train_ds,
        per_proc,
        d,
        shuffle=True,
        seed=s.seed,
        workers=s.workers,
        drop_last=True,
        device=run.device,
    )
    if len(run.train_loader) == 0:
        raise SystemExit(f"{len(run.train_ds)} training clips is fewer than one batch of {s.batch_size}")
    run.val_loader = (
        make_loader(run.val_ds, per_proc, d, shuffle=False, seed=s.seed, workers=s.workers, drop_last=False,
                    device=run.device)
        if run.val_ds is not None else None
    )  # fmt: skip
    per_epoch = len(run.train_loader)
    run.budget = budget_steps(s, per_epoch)
    run.epochs = math.ceil(run.budget / per_epoch)
    run.opt = make_optimizer(run.model, s)
    run.sched = make_schedule(run.opt, s, per_epoch)
    run.scaler = torch.amp.GradScaler("cuda", enabled=run.dtype is torch.float16)


def restore(run: Run) -> None:
    """``--resume``: weights, optimiser, schedule, RNG and counters from ``last.pt``; then DDP."""
    s, d = run.s, run.d
    last = run.dir / "last.pt"
    if s.resume and not last.exists():
        log.info("resuming %s: no epoch had finished (no last.pt); starting from epoch 0", run.dir)
        if d.main:
            results.truncate_history(run.dir, 0)  # a row written just before a kill: repeated now
    if s.resume and last.exists():
        ck = load_checkpoint(last)
        load_weights(run.model, ck["state_dict"], last)
        run.opt.load_state_dict(ck["optimizer"])
        run.sched.load_state_dict(ck["scheduler"])
        if "scaler" in ck:
            run.scaler.load_state_dict(ck["scaler"])
        torch.set_rng_state(ck["rng"]["cpu"][d.rank % len(ck["rng"]["cpu"])])
        run.start_epoch, run.step = int(ck["epoch"]) + 1, int(ck["step"])
        run.best = ck.get("best", run.best)
        run.elapsed = float(ck.get("elapsed", 0.0))
        # epochs are 0-based in the log ("epoch 0: ..."), as in history.jsonl
        log.info("resumed %s after epoch %d (step %d); next epoch %d", run.dir, run.start_epoch - 1,
                 run.step, run.start_epoch)  # fmt: skip
        if d.main:
            results.truncate_history(run.dir, run.start_epoch, ck.get("history_row"))
    if d.active:
        run.model = nn.parallel.DistributedDataParallel(
            run.model, device_ids=[run.device.index] if run.device.type == "cuda" else None
        )


def fit(run: Run) -> None:
    """Epochs until the step budget is spent or validation has levelled off (``patience``)."""
    s = run.s
    for epoch in range(run.start_epoch, run.epochs):
        if run.step >= run.budget or (levelled_off(run.best, epoch - 1, s.patience) and _patient(run)):
            break
        row = train_epoch(run, epoch)
        if run.val_loader is not None:
            row.update(validate(run.model, run.val_loader, run.device, run.dtype, run.d))
        record_epoch(run, epoch, row)
        if levelled_off(run.best, epoch, s.patience) and _patient(run) and epoch + 1 < run.epochs:
            log.info("stopping after epoch %d: validation top-1 has not improved for %d epochs "
                     "(best %.3f at epoch %s)", epoch, s.patience, run.best["val_top1"],
                     run.best.get("epoch"))  # fmt: skip
            break


def _patient(run: Run) -> bool:
    """Patience may end a run only once :data:`PATIENCE_FROM` of its step budget is spent: a model
    still at chance after a few epochs (whole-frame I3D on the synthetic v2 clips) has not levelled
    off, it has not started."""
    return run.step >= PATIENCE_FROM * run.budget


def levelled_off(best: dict, epoch: int, patience: int) -> bool:
    """True when ``patience`` (> 0) epochs have passed since the best validation epoch."""
    return bool(patience) and "epoch" in best and epoch - int(best["epoch"]) >= patience


# Mixup (Zhang et al. 2018): each training batch blended with itself in another order, its loss the
# same blend of the loss against either clip's label. For the models that read whole RGB clips
# only (``mixup_keys``): a pose, or crops placed by one, would not blend into one clip's.
MIXUP_MODELS = ("i3d", "i3d_nl")


def mixup_keys(model: nn.Module) -> tuple[str, ...]:
    """The batch keys a model's mixup blends (its ``mixup_keys``; none: the model cannot mix)."""
    return tuple(getattr(unwrap(model), "mixup_keys", ()))


def mixup_draw(n: int, alpha: float, seed: tuple[int, ...], device=None) -> tuple[float, torch.Tensor]:
    """A step's mixup: the share ``lam`` ~ Beta(alpha, alpha) and the order of the partners (on
    ``device``), drawn from the step's own generator (``(seed, rank, step)``), so a resumed run
    draws the same."""
    rng = np.random.default_rng(seed)
    lam = float(rng.beta(alpha, alpha))
    return lam, torch.from_numpy(rng.permutation(n)).to(device)


def mix_batch(batch: dict[str, torch.Tensor], keys: tuple[str, ...], lam: float, order: torch.Tensor):
    """``batch`` with each of ``keys`` blended, ``lam`` of each clip's own and ``1 - lam`` of clip
    ``order[i]``'s; the labels stay each clip's own (``mixed_loss`` reads the partners')."""
    blended = {k: batch[k].mul(lam).add_(batch[k].index_select(0, order), alpha=1.0 - lam) for k in keys}
    return {**batch, **blended}


def mixed_loss(model: nn.Module, out, batch: dict[str, torch.Tensor], mix):
    """The model's loss; with a mixup ``(lam, order)``, ``lam`` of it against each clip's label and
    ``1 - lam`` against its partner's (each term of ``terms`` blended alike)."""
    loss, terms = model.loss(out, batch)
    if mix is None:
        return loss, terms
    lam, order = mix
    partners = {**batch, "label": batch["label"].index_select(0, order)}
    other, other_terms = model.loss(out, partners)
    blended = {k: lam * v + (1.0 - lam) * other_terms.get(k, v) for k, v in terms.items()}
    return lam * loss + (1.0 - lam) * other, blended


def train_epoch(run: Run, epoch: int) -> dict[str, Any]:
    """One pass over the training split; returns the epoch's row of ``history.jsonl`` so far.

    Running sums stay tensors on the device (no per-step ``.item()``): they are read when a line
    goes to ``steps.jsonl`` or the progress bar (every few seconds) and once at the end.
    """
    s, d, model, device, dtype = run.s, run.d, run.model, run.device, run.dtype
    opt, sched, scaler = run.opt, run.sched, run.scaler
    t0 = time.perf_counter()
    run.train_ds.set_epoch(epoch)
    run.train_loader.sampler.set_epoch(epoch)
    _set_train_mode(model, s)
    params = [p for p in model.parameters() if p.requires_grad]
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    correct = torch.zeros((), dtype=torch.float64, device=device)
    count = 0
    terms_sum: dict[str, float] = {}
    bar = _progress(run.train_loader, epoch, run.epochs, d)
    steps = _StepLog(run.dir, epoch, len(run.train_loader), bar) if d.main else None
    mixing = mixup_keys(model) if s.mixup else ()
    for batch in bar:
        batch = to_device(batch, device)
        mix = None
        if mixing:
            mix = mixup_draw(batch["label"].numel(), s.mixup, (s.seed, d.rank, run.step), device)
            batch = mix_batch(batch, mixing, *mix)
        with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
            out = model(batch)
            loss, terms = mixed_loss(unwrap(model), out, batch, mix)
        if not torch.isfinite(loss):
            _diverged(run.dir, d, epoch, run.step, loss, terms)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(opt)
        norm = torch.nn.utils.clip_grad_norm_(params, s.clip_grad)
        if dtype is not torch.float16 and not torch.isfinite(norm):
            _diverged(run.dir, d, epoch, run.step, loss, {**terms, "grad_norm": float(norm)})
        scaler.step(opt)
        scaler.update()
        sched.step()
        run.step += 1
        n = batch["label"].numel()
        loss_sum += loss.detach() * n
        correct += (out.logits.detach().argmax(1) == batch["label"]).sum()
        count += n
        for k, v in terms.items():
            terms_sum[k] = terms_sum.get(k, 0.0) + v * n
        if steps is not None:
            steps.add(run.step, loss_sum, correct, n)
        if run.step >= run.budget:
            break
    train_seconds = time.perf_counter() - t0
    keys = sorted(terms_sum)
    sums = [float(loss_sum), float(correct), float(count), *(terms_sum[k] for k in keys)]
    totals = _all_sum(d, sums, device)
    n_all = max(totals[2], 1.0)
    return {
        "epoch": epoch, "step": run.step, "train_loss": totals[0] / n_all, "train_top1": totals[1] / n_all,
        **{f"train_{k}": totals[3 + i] / n_all for i, k in enumerate(keys)},
        "lr": opt.param_groups[0]["lr"], "train_seconds": train_seconds,
        "clips_per_second": totals[2] / max(train_seconds, 1e-9),
    }  # fmt: skip


def record_epoch(run: Run, epoch: int, row: dict[str, Any]) -> None:
    """The epoch's row in ``history.jsonl``, ``best.pt`` when validation improved, ``last.pt``."""
    s, d = run.s, run.d
    run.elapsed += row["train_seconds"]
    row["elapsed_seconds"] = run.elapsed
    score = row.get("val_top1", row["train_top1"])
    improved = score > run.best["val_top1"]
    if improved:
        run.best = {"val_top1": score, "epoch": epoch}
    if d.main:
        metrics = {k: v for k, v in row.items() if isinstance(v, (int, float))}
        payload = checkpoint_payload(run.model, s, reader=run.reader, epoch=epoch, step=run.step,
                                     metrics=metrics)  # fmt: skip
        if improved:
            save_checkpoint(run.dir / "best.pt", payload)
        payload.update(
            optimizer=run.opt.state_dict(), scheduler=run.sched.state_dict(), scaler=run.scaler.state_dict(),
            rng={"cpu": [torch.get_rng_state()]}, best=run.best, elapsed=run.elapsed, history_row=row,
        )  # fmt: skip
        # The row first, then the checkpoint that holds it too: a kill between the two repeats
        # the epoch on --resume (its row is dropped, then written again), and loses nothing.
        results.append_history(run.dir, row)
        save_checkpoint(run.dir / "last.pt", payload)
        log.info("epoch %d: %s", epoch, ", ".join(f"{k} {_fmt(v)}" for k, v in row.items() if k != "epoch"))
    _barrier(d)


def finish(run: Run) -> None:
    """``model.pt`` from the best weights, out-of-distribution statistics, the test evaluation."""
    s, d = run.s, run.d
    if d.main:
        export(run.dir)
        fit_ood(run.dir, run.reader, run.splits, s, run.device)
        results.set_status(run.dir, "trained",
                           **results.running_status(train_seconds=run.elapsed, best=run.best))  # fmt: skip
        log.info("trained %s in %.0f s; best val top-1 %.3f at epoch %s", run.dir, run.elapsed,
                 run.best["val_top1"], run.best.get("epoch"))  # fmt: skip
    _barrier(d)
    if s.evaluate:
        from core_models.evaluate import evaluate_run

        clips = [r.name for r in run.splits["test"]] if s.limit else None
        evaluate_run(run.dir, split="test", dist=d, device=run.device, clips=clips, progress=_show_progress(),
                     workers=s.workers)  # fmt: skip
    if d.main:
        results.set_status(run.dir, "complete", train_seconds=run.elapsed, best=run.best)


def export(run_dir: Path) -> Path:
    """``model.pt``: the best weights (else the last), compact, without optimiser state."""
    src = run_dir / "best.pt" if (run_dir / "best.pt").exists() else run_dir / "last.pt"
    ck = load_checkpoint(src)
    keep = {k: v for k, v in ck.items()
            if k not in ("optimizer", "scheduler", "scaler", "rng", "best", "history_row")}  # fmt: skip
    keep["state_dict"] = compact_state(ck["state_dict"])
    keep["compact"] = True
    return save_checkpoint(run_dir / "model.pt", keep)


def fit_ood(run_dir: Path, reader, splits: dict, s: TrainSettings, device: torch.device) -> None:
    """Store the out-of-distribution statistics of the training split in ``model.pt``
    (:func:`core_models.ood.fit.fit_checkpoint`; thresholds on the validation split)."""
    from core_models.ood.fit import fit_checkpoint

    t0 = time.perf_counter()
    try:
        stats = fit_checkpoint(
            run_dir / "model.pt", reader=reader, splits=splits, protocol=s.protocol,
            cache_dir=s.cache_dir or None, device=device,
        )  # fmt: skip
    except ValueError as e:  # e.g. a split too small to fit anything: the run itself is fine
        log.warning("no out-of-distribution statistics: %s", e)
        return
    log.info("out-of-distribution statistics from %d training clips, thresholds on %d held-out clips "
             "(%s %.3g) in %.0f s", stats.train_clips, stats.calibration_clips, stats.score,
             stats.threshold, time.perf_counter() - t0)  # fmt: skip


def validate(model, loader, device, dtype, d: Dist) -> dict[str, float]:
    model.eval()
    loss_sum, correct, count = 0.0, 0.0, 0.0
    with torch.no_grad():
        for batch in loader:
            batch = to_device(batch, device)
            with torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
                out = model(batch)
                loss, _ = unwrap(model).loss(out, batch)
            n = batch["label"].numel()
            loss_sum += float(loss) * n
            correct += float((out.logits.argmax(1) == batch["label"]).sum())
            count += n
    loss_sum, correct, count = _all_sum(d, [loss_sum, correct, count], device)
    return {"val_loss": loss_sum / max(count, 1), "val_top1": correct / max(count, 1)}


def _diverged(run_dir: Path, d: Dist, epoch: int, step: int, loss, terms: dict) -> None:
    what = ", ".join(f"{k} {v:.4g}" for k, v in terms.items())
    last = run_dir / "last.pt"
    keep = (
        f"the last good checkpoint is {last}"
        if last.exists()
        else "no epoch had finished, no checkpoint kept"
    )
    msg = (
        f"the loss became {float(loss.detach())} at epoch {epoch}, step {step} ({what}); "
        f"training stopped and {keep}. "
        "Lower --lr or --clip-grad, or check the data of this batch."
    )
    if d.main:
        log.error(msg)
        results.set_status(run_dir, "failed", reason=msg)
    raise TrainingDivergedError(msg)


STEP_LOG_SECONDS = 2.0  # a line in steps.jsonl at least this often (and for each of the run's first steps)
STEP_LOG_FIRST = 10


class _StepLog:
    """Running loss and accuracy every few optimiser steps into ``steps.jsonl`` (and the progress
    bar), so a curve shows from the first steps rather than after the first epoch (the Train page
    draws it). The epoch's running sums arrive as tensors and are read only when a line is written."""

    def __init__(self, run_dir: Path, epoch: int, steps_per_epoch: int, bar=None) -> None:
        self.run_dir, self.epoch, self.per_epoch, self.bar = run_dir, epoch, max(steps_per_epoch, 1), bar
        self.loss_before = self.correct_before = 0.0  # the epoch's sums when the last line was written
        self.count = 0  # clips since the last line
        self.seen = 0  # clips in the epoch
        self.done, self.last = 0, time.perf_counter()

    def add(self, step: int, loss_sum, correct_sum, n: int) -> None:
        """One optimiser step of ``n`` clips, with the epoch's summed loss and correct count so far."""
        self.done += 1
        self.count += n
        self.seen += n
        if step > STEP_LOG_FIRST and time.perf_counter() - self.last < STEP_LOG_SECONDS:
            return
        loss_sum, correct_sum = float(loss_sum), float(correct_sum)
        results.append_steps(self.run_dir, {
            "epoch": self.epoch, "step": step, "epoch_fraction": self.epoch + self.done / self.per_epoch,
            "train_loss": (loss_sum - self.loss_before) / self.count,
            "train_top1": (correct_sum - self.correct_before) / self.count, "time": time.time(),
        })  # fmt: skip
        if hasattr(self.bar, "set_postfix"):
            self.bar.set_postfix(loss=f"{loss_sum / self.seen:.3f}", acc=f"{correct_sum / self.seen:.3f}")
        self.loss_before, self.correct_before = loss_sum, correct_sum
        self.count = 0
        self.last = time.perf_counter()


def _progress_writer(run_dir: Path, stage: str, started: float):
    """A ``(done, total)`` callback that writes ``progress.json`` at most twice a second."""
    last = [0.0]

    def write(done: int, total: int) -> None:
        if done >= total or time.perf_counter() - last[0] >= 0.5:
            results.write_progress(run_dir / "progress.json", stage, done, total, started)
            last[0] = time.perf_counter()

    return write


def _progress(loader, epoch: int, epochs: int, d: Dist):
    if not d.main:
        return loader
    from tqdm import tqdm

    return tqdm(loader, desc=f"epoch {epoch + 1}/{epochs}", unit="batch", leave=False, file=sys.stderr,
                disable=not _show_progress())  # fmt: skip


def _show_progress() -> bool:
    return os.environ.get("CORE_MODELS_NO_PROGRESS") != "1"


def _fmt(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _models():
    from core_models.models import MODELS

    return MODELS


def _resume_settings(run_dir: Path) -> TrainSettings:
    path = run_dir / "settings.json"
    if not path.is_file():
        raise SystemExit(f"--resume: {run_dir} holds no settings.json; it is not a run directory")
    import json

    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError, RecursionError) as e:
        raise SystemExit(f"--resume: {path} is not a readable settings file ({e})") from None
    if not isinstance(data, dict):
        raise SystemExit(f"--resume: {path} is not a JSON object")
    data["resume"] = True
    data["out"] = str(run_dir)
    names = {f.name for f in fields(TrainSettings)}
    return TrainSettings(**{k: v for k, v in data.items() if k in names})
