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

Before any model is built, :func:`check_checkpoint` validates what the file claims, so that a
hostile or damaged file gets a :class:`CheckpointError` instead of a terabyte allocation or a
traceback: the types of every field the loaders read; ``num_classes`` in 1..:data:`MAX_CLASSES`;
``class_names`` one string per class; every config field one the model has, of its type, and
each integer at most :data:`CONFIG_GROWTH` times the larger of its two presets' values; every
weight finite (a NaN or infinite weight is refused, naming the tensor); and, when some number of
the config exceeds both presets' (a model larger than the ``paper`` preset), the model built first
on PyTorch's ``meta`` device (no memory) to count its parameters (at most :data:`MAX_PARAMETERS`)
and to compare every tensor's name and shape with the file's. A preset-sized model is built at
once (the meta pass costs as much as the build) and its tensors compared by :func:`load_weights`.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, fields, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

FORMAT = "core_models/1"
REQUIRED = ("format", "model", "preset", "config", "num_classes", "layout", "state_dict")
MAX_CLASSES = 100_000
MAX_PARAMETERS = 1_000_000_000  # 4 GB of float32; the largest paper preset has 181M
# A saved config may differ from its preset (``--set`` overrides), but no integer in it may exceed
# this many times the larger of the two presets' values (at least 4): a layer count of 10**9
# would otherwise build for hours before the parameter bound could refuse it.
CONFIG_GROWTH = 16
MAX_CONFIG_STRING = 200
# Up to this many classes, a config with no number above its presets' builds directly (no meta pass).
PRESET_CLASSES = 1_000


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
    from core_models.data.files import open_regular

    path = Path(path)
    f = open_regular(path, "checkpoint file", error=CheckpointError)  # no FIFO, folder or unreadable file
    try:
        with f:
            ckpt = torch.load(f, map_location="cpu", weights_only=True)
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
        raise CheckpointError(path, f"has format {str(ckpt['format'])[:80]!r}", f"format {FORMAT!r}")
    return ckpt


def _describe(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    for kind, types in (("int", int), ("float", float), ("str", str), ("list", (list, tuple))):
        if isinstance(value, types):
            return kind
    return "none" if value is None else type(value).__name__


def _config_problem(value: Any, like: list[Any]) -> str | None:
    """What is wrong with a saved config value, judged by the same field's values in the presets."""
    kinds = {_kind(v) for v in like} or {"bool", "int", "float", "str"}
    kind = _kind(value)
    if kind not in kinds and not (kind == "int" and "float" in kinds):
        return f"is {_describe(value)} (a {kind}; expected {' or '.join(sorted(kinds))})"
    if kind == "int":
        bound = CONFIG_GROWTH * max([abs(v) for v in like if _kind(v) == "int"] + [4])
        if abs(value) > bound:
            return f"is {value} (at most {bound}: {CONFIG_GROWTH} times its presets' value)"
    elif kind == "float" and not math.isfinite(value):
        return f"is {value} (expected a finite number)"
    elif kind == "str" and len(value) > MAX_CONFIG_STRING:
        return f"is a string of {len(value)} characters (at most {MAX_CONFIG_STRING})"
    elif kind == "list":
        seqs = [v for v in like if _kind(v) == "list"]
        longest = max([len(v) for v in seqs] + [4])
        if len(value) > CONFIG_GROWTH * longest:
            return f"has {len(value)} entries (at most {CONFIG_GROWTH * longest})"
        inner = [e for v in seqs for e in v]
        for i, item in enumerate(value):
            problem = _config_problem(item, inner)
            if problem:
                return f"entry {i} {problem}"
    return None


def _meta_model(name: str, preset: str, num_classes: int, layout: str, config: dict | None) -> nn.Module:
    with torch.device("meta"):  # parameters without memory: shapes and counts only
        return build_model_with(
            name, preset, num_classes=num_classes, layout_name=layout, config=config, legacy=True
        )


def _preset_configs(name: str) -> list[dict[str, Any]]:
    """The config dicts of a model's presets (its module's ``PRESETS``), without building anything."""
    import importlib

    from core_models.models import MODELS, PRESETS

    presets = getattr(importlib.import_module(MODELS[name].__module__), "PRESETS", None)
    if isinstance(presets, dict) and all(p in presets for p in PRESETS):
        return [config_dict(presets[p]) for p in PRESETS]
    return [config_dict(_meta_model(name, p, 60, "ntu25", None).config) for p in PRESETS]


def check_checkpoint(ckpt: dict[str, Any], path: str | Path = "<checkpoint>") -> nn.Module | None:
    """Validate what a checkpoint claims before a model is built from it (see the module docstring).

    Returns:
        None when no number of the config exceeds its presets' and ``num_classes`` is at most
        :data:`PRESET_CLASSES` (the model is no larger than a preset's, so it is built at once);
        otherwise the model it describes on the ``meta`` device (shapes, no memory), its
        parameters counted and its tensors checked against the file's.

    Raises:
        CheckpointError: naming the field, what it holds and what was expected.
    """
    from core_models.data.layouts import LAYOUTS
    from core_models.models import MODELS, PRESETS

    def need(ok: bool, key: str, expected: str) -> None:
        if not ok:
            raise CheckpointError(path, f"{key} is {_describe(ckpt.get(key))}", expected)

    need(isinstance(ckpt["model"], str) and ckpt["model"] in MODELS, "model", f"one of {', '.join(MODELS)}")
    need(
        isinstance(ckpt["preset"], str) and ckpt["preset"] in PRESETS,
        "preset",
        f"one of {', '.join(PRESETS)}",
    )
    need(
        isinstance(ckpt["layout"], str) and ckpt["layout"] in LAYOUTS,
        "layout",
        f"one of {', '.join(LAYOUTS)}",
    )
    n = ckpt["num_classes"]
    need(_kind(n) == "int" and 1 <= n <= MAX_CLASSES, "num_classes", f"an integer from 1 to {MAX_CLASSES:,}")
    names = ckpt.get("class_names")
    if names is not None:
        need(
            isinstance(names, list | tuple) and len(names) == n and all(isinstance(c, str) for c in names),
            "class_names", f"a list of {n} class names (num_classes)",
        )  # fmt: skip
    for key in ("data", "settings", "metrics"):
        if ckpt.get(key) is not None:
            need(isinstance(ckpt[key], dict), key, "a dict")
    for key in ("epoch", "step"):
        if ckpt.get(key) is not None:
            need(_kind(ckpt[key]) == "int" and ckpt[key] >= 0, key, "a non-negative integer")
    state = ckpt["state_dict"]
    _check_state(state, path)
    config = ckpt["config"]
    if not isinstance(config, dict) or not all(isinstance(k, str) for k in config):
        raise CheckpointError(path, f"config is {_describe(config)}", "a dict of config fields")

    templates = _preset_configs(ckpt["model"])
    for key, value in config.items():
        if key not in templates[0]:
            raise CheckpointError(
                path, f"config field {key!r} does not exist in {ckpt['model']}",
                f"fields of {ckpt['model']}: {', '.join(templates[0])}",
            )  # fmt: skip
        if key == "num_classes":  # bounded by MAX_CLASSES, not by the presets' 60
            continue
        problem = _config_problem(value, [t[key] for t in templates])
        if problem:
            raise CheckpointError(path, f"config field {key!r} {problem}")
    if _kind(config.get("num_classes", n)) != "int" or config.get("num_classes", n) != n:
        raise CheckpointError(
            path,
            f"config num_classes {config['num_classes']} differs from num_classes {n}",
            "the same number",
        )
    _check_finite(state, path)
    if n <= PRESET_CLASSES and all(_within(v, [t[k] for t in templates]) for k, v in config.items()
                                   if k != "num_classes"):  # fmt: skip
        return None  # no number above its presets': the model is no larger than a preset's
    try:
        meta = _meta_model(ckpt["model"], ckpt["preset"], n, ckpt["layout"], config)
    except Exception as e:  # the config's values do not make a model (a negative size, ...)
        first = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise CheckpointError(path, f"describes a model this version cannot build ({first})") from None
    count = sum(p.numel() for p in meta.parameters())
    if count > MAX_PARAMETERS:
        raise CheckpointError(
            path, f"describes a model of {count:,} parameters", f"at most {MAX_PARAMETERS:,}"
        )
    _check_fit(meta, state, path)
    return meta


def _check_finite(state: dict[str, torch.Tensor], path: str | Path) -> None:
    """Refuse NaN or infinite weights, naming the first tensor that holds one."""
    by_dtype: dict[torch.dtype, list[torch.Tensor]] = {}
    for v in state.values():
        if v.is_floating_point() and v.numel():
            by_dtype.setdefault(v.dtype, []).append(v.reshape(-1))
    # one reduction per dtype (a call per tensor costs more than the check itself)
    if all(bool(torch.isfinite(torch.cat(vs)).all()) for vs in by_dtype.values()):
        return
    for k, v in state.items():
        if v.is_floating_point() and not bool(torch.isfinite(v).all()):
            what = "NaN" if bool(torch.isnan(v).any()) else "infinite"
            raise CheckpointError(path, f"tensor {k} holds {what} weights", "finite weights (diverged?)")


def _within(value: Any, like: list[Any]) -> bool:
    """Whether every number in ``value`` is at most the largest of the presets' (no bigger model)."""
    if _kind(value) in ("int", "float"):
        bound = [abs(v) for v in like if _kind(v) in ("int", "float")]
        return bool(bound) and abs(value) <= max(bound)
    if _kind(value) == "list":
        inner = [e for v in like if _kind(v) == "list" for e in v]
        return all(_within(e, inner) for e in value)
    return True


def restore_config(template: Any, saved: dict[str, Any], *, legacy: bool = False) -> Any:
    """``template`` (a config dataclass) with the saved values; lists back to tuples.

    With ``legacy`` (a checkpoint's saved config), a field the saved dict lacks takes the value of
    the config class's ``LEGACY`` dict when it names one: the architecture variant that existed
    before the field did, so an old checkpoint rebuilds the model it was trained as rather than
    today's preset.
    """
    names = {f.name for f in fields(template)}
    unknown = sorted(set(saved) - names)
    if unknown:
        raise ValueError(f"config fields {unknown} do not exist in {type(template).__name__}")
    values = {}
    if legacy:
        values.update({k: v for k, v in getattr(type(template), "LEGACY", {}).items() if k not in saved})
    for k, v in saved.items():
        current = getattr(template, k)
        values[k] = tuple(v) if isinstance(current, tuple) and isinstance(v, list) else v
    return replace(template, **values)


def build_model_with(
    name: str, preset: str, *, num_classes: int, layout_name: str, config: dict | None, legacy: bool = False
):
    """Build ``name``/``preset`` and apply a saved (``legacy``: a checkpoint's, see
    :func:`restore_config`) or overriding config dict."""
    from core_models.data.layouts import LAYOUTS
    from core_models.models import MODELS, build_model

    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; this version has {', '.join(MODELS)}")
    if layout_name not in LAYOUTS:
        raise ValueError(f"unknown skeleton layout {layout_name!r}; expected one of {', '.join(LAYOUTS)}")
    if not config:
        return build_model(name, preset, num_classes=num_classes, layout=LAYOUTS[layout_name])
    # The preset's model is built only for its type and config; with the random state put back,
    # the model of the new config starts from the weights the same config as a preset gets (a
    # ``--set`` that changes nothing changes nothing, so an experiment compares with a preset).
    with torch.random.fork_rng(devices=[]):
        preset_model = build_model(name, preset, num_classes=num_classes, layout=LAYOUTS[layout_name])
    return type(preset_model)(restore_config(preset_model.config, config, legacy=legacy))


def build_from_checkpoint(ckpt: dict[str, Any], path: str | Path = "<checkpoint>") -> nn.Module:
    """The model a checkpoint describes, with its weights loaded (in eval mode, float32).

    :func:`check_checkpoint` runs first and builds the model on the ``meta`` device, so nothing is
    allocated for a file that does not hold up; the checked model is then given memory and every
    one of its tensors comes from the file (the models have no tensor outside their state dict).
    """
    meta = check_checkpoint(ckpt, path)
    if meta is None:  # a preset-sized model: building it is as cheap as the meta pass would be
        try:
            model = build_model_with(
                ckpt["model"], ckpt["preset"], num_classes=ckpt["num_classes"], layout_name=ckpt["layout"],
                config=ckpt["config"], legacy=True,
            )  # fmt: skip
        except Exception as e:  # the config's values do not make a model (a negative size, ...)
            first = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
            raise CheckpointError(path, f"describes a model this version cannot build ({first})") from None
        load_weights(model, ckpt["state_dict"], path)
        return _trained_stage(model, ckpt).eval()
    model = meta.to_empty(device="cpu")
    own = model.state_dict()
    model.load_state_dict({k: v.to(own[k].dtype) for k, v in ckpt["state_dict"].items()})
    return _trained_stage(model, ckpt).eval()


def _trained_stage(model: nn.Module, ckpt: dict[str, Any]) -> nn.Module:
    """Put the model in the training stage its checkpoint was trained in, where that stage
    answers with other logits than the whole model (the model's ``evaluated_stages``)."""
    settings = ckpt.get("settings")
    stage = settings.get("stage") if isinstance(settings, dict) else None
    if stage and stage in getattr(model, "evaluated_stages", ()):
        model.set_stage(stage)
    return model


def load_weights(model: nn.Module, state: dict[str, torch.Tensor], path: str | Path = "<checkpoint>") -> None:
    """Load ``state`` into ``model`` or raise :class:`CheckpointError` listing what does not fit."""
    _check_state(state, path)
    _check_fit(model, state, path)
    own = model.state_dict()
    model.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()})


def _check_state(state: Any, path: str | Path) -> None:
    if not isinstance(state, dict):
        raise CheckpointError(
            path, f"state_dict is a {type(state).__name__}", "a dict of tensor names to tensors"
        )
    for k, v in state.items():
        if not isinstance(k, str) or not isinstance(v, torch.Tensor) or v.layout != torch.strided:
            raise CheckpointError(
                path,
                f"state_dict entry {_describe(k)} is a {type(v).__name__}",
                "dense tensors under string names",
            )


def _check_fit(model: nn.Module, state: dict[str, torch.Tensor], path: str | Path) -> None:
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
            parts.append(f"{len(unexpected)} unexpected, e.g. {', '.join(k[:80] for k in unexpected[:3])}")
        raise CheckpointError(
            path, "does not fit the model: " + "; ".join(parts),
            f"the {len(own)} tensors of {type(model).__name__} with its config",
        )  # fmt: skip


def compact_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Floating tensors as float16 (half the size of a shipped file); integer buffers unchanged.

    Entries that are one tensor under several names (a module shared between two branches, e.g.
    part attention's one hand trunk) stay one tensor, so ``torch.save`` stores it once.
    """
    out: dict[str, torch.Tensor] = {}
    seen: dict[tuple, torch.Tensor] = {}
    for k, v in state.items():
        key = (v.device, v.data_ptr(), v.dtype, tuple(v.shape), v.stride())  # data_ptr: with the offset
        if v.numel() and key in seen:
            out[k] = seen[key]
            continue
        out[k] = seen[key] = (v.half() if v.is_floating_point() else v).contiguous()
    return out


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside a DistributedDataParallel wrapper, or the model itself."""
    return model.module if hasattr(model, "module") and isinstance(model.module, nn.Module) else model
