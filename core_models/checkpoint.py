"""Checkpoints that rebuild their model from the file alone and load without executing code.

A checkpoint is a plain ``torch.save`` of a dict holding only strings, numbers, lists, dicts and
tensors, so ``torch.load(..., weights_only=True)`` reads it (no pickle code runs)::

    format       "core_models/1"
    model        name in MODELS            preset       "cpu" | "paper"
    config       the model's config dataclass as a dict (the preset plus any overrides)
    num_classes  int                       layout       skeleton layout name ("ntu25", ...)
    class_names  [str]                     data         {"kind", "protocol", "root"}
    state_dict   the model's tensors (stored as float16 in a ``compact`` export, read back as float32)
    epoch, step  progress                  metrics      the last validation metrics
    settings     the training settings (see ``core_models.train.TrainSettings``)
    optimizer, scheduler, scaler, rng      only in the run's resumable ``last.pt``

Files are written under a temporary name and renamed, so a killed run never leaves half a
checkpoint; :func:`load_checkpoint` explains what is wrong with a file that is not a checkpoint,
and :func:`build_from_checkpoint` what does not fit when the tensors do not match the model.
"""

from __future__ import annotations

import os
from dataclasses import asdict, fields, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

FORMAT = "core_models/1"
REQUIRED = ("format", "model", "preset", "config", "num_classes", "layout", "state_dict")


class CheckpointError(ValueError):
    """A file that is not a usable checkpoint, with what was wrong and what was expected."""

    def __init__(self, path: str | Path, problem: str, expected: str = ""):
        self.path = str(path)
        self.problem = problem
        self.expected = expected
        msg = f"{path}: {problem}"
        if expected:
            msg += f"; expected {expected}"
        super().__init__(msg)


def config_dict(config: Any) -> dict[str, Any]:
    """A config dataclass as plain JSON-able values (tuples become lists)."""
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(config).items()}


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` atomically (temporary file, fsync, rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
    with open(tmp, "wb") as f:
        torch.save(payload, f)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)
    return path


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint with ``weights_only=True``; :class:`CheckpointError` if it is not one."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(
            path, "no such file", "a .pt checkpoint written by `python -m core_models train`"
        )
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # corrupt zip, pickled code, truncated file: all mean "not ours"
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(
            path, f"cannot be read as a weights-only checkpoint ({first[:200]})",
            "a file written by `python -m core_models train` (plain tensors and values, no code)",
        ) from None  # fmt: skip
    if not isinstance(ckpt, dict):
        raise CheckpointError(
            path, f"holds a {type(ckpt).__name__}", "a dict with a state_dict and the model's name"
        )
    missing = [k for k in REQUIRED if k not in ckpt]
    if missing:
        what = "a bare state_dict" if all(isinstance(v, torch.Tensor) for v in ckpt.values()) else "a dict"
        raise CheckpointError(
            path, f"is {what} without {', '.join(missing)}",
            f"a core_models checkpoint with the keys {', '.join(REQUIRED)}",
        )  # fmt: skip
    if ckpt["format"] != FORMAT:
        raise CheckpointError(path, f"has format {ckpt['format']!r}", f"format {FORMAT!r}")
    return ckpt


def restore_config(template: Any, saved: dict[str, Any]) -> Any:
    """``template`` (a config dataclass) with the saved values; lists back to tuples."""
    names = {f.name for f in fields(template)}
    unknown = sorted(set(saved) - names)
    if unknown:
        raise ValueError(f"config fields {unknown} do not exist in {type(template).__name__}")
    values = {}
    for k, v in saved.items():
        current = getattr(template, k)
        values[k] = tuple(v) if isinstance(current, tuple) and isinstance(v, list) else v
    return replace(template, **values)


def build_model_with(name: str, preset: str, *, num_classes: int, layout_name: str, config: dict | None):
    """Build ``name``/``preset`` and apply a saved or overriding config dict."""
    from core_models.data.layouts import LAYOUTS
    from core_models.models import MODELS, build_model

    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; this version has {', '.join(MODELS)}")
    if layout_name not in LAYOUTS:
        raise ValueError(f"unknown skeleton layout {layout_name!r}; expected one of {', '.join(LAYOUTS)}")
    model = build_model(name, preset, num_classes=num_classes, layout=LAYOUTS[layout_name])
    if config:
        model = type(model)(restore_config(model.config, config))
    return model


def build_from_checkpoint(ckpt: dict[str, Any], path: str | Path = "<checkpoint>") -> nn.Module:
    """The model a checkpoint describes, with its weights loaded (in eval mode, float32)."""
    try:
        model = build_model_with(
            ckpt["model"], ckpt["preset"], num_classes=int(ckpt["num_classes"]),
            layout_name=ckpt["layout"], config=ckpt["config"],
        )  # fmt: skip
    except (ValueError, TypeError) as e:
        raise CheckpointError(path, f"describes a model this version cannot build ({e})") from None
    load_weights(model, ckpt["state_dict"], path)
    return model.eval()


def load_weights(model: nn.Module, state: dict[str, torch.Tensor], path: str | Path = "<checkpoint>") -> None:
    """Load ``state`` into ``model`` or raise :class:`CheckpointError` listing what does not fit."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [
        f"{k} {tuple(state[k].shape)} (model: {tuple(own[k].shape)})"
        for k in own
        if k in state and tuple(state[k].shape) != tuple(own[k].shape)
    ]
    if missing or unexpected or wrong:
        parts = []
        if wrong:
            parts.append(f"{len(wrong)} tensors of the wrong shape, e.g. {'; '.join(wrong[:3])}")
        if missing:
            parts.append(f"{len(missing)} missing, e.g. {', '.join(missing[:3])}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected, e.g. {', '.join(unexpected[:3])}")
        raise CheckpointError(
            path, "does not fit the model: " + "; ".join(parts),
            f"the {len(own)} tensors of {type(model).__name__} with its config",
        )  # fmt: skip
    model.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()})


def compact_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Floating tensors as float16 (half the size of a shipped file); integer buffers unchanged."""
    return {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in state.items()}


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside a DistributedDataParallel wrapper, or the model itself."""
    return model.module if hasattr(model, "module") and isinstance(model.module, nn.Module) else model
