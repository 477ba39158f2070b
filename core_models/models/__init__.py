"""The models: one plain dict from name to factory ``factory(preset, *, num_classes, layout)``.

Every model is an ``nn.Module`` with ``forward(batch) -> ModelOutput`` (see ``output.py``),
``loss(out, batch) -> (total, terms)``, and the attributes ``config`` (its frozen preset),
``input_spec`` (what the Dataset must prepare), ``inputs`` (batch keys it reads) and
``attention_kinds`` (attention it returns). Presets are ``paper`` (published sizes) and ``cpu``.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from core_models.data.layouts import NTU25, SkeletonLayout
from core_models.models.glimpse_clouds import glimpse_clouds
from core_models.models.i3d_baseline import i3d, i3d_nl
from core_models.models.late_fusion import late_fusion
from core_models.models.output import ATTENTION_KINDS, ModelOutput, check_output
from core_models.models.part_attention import part_attention
from core_models.models.self_attention import self_attention
from core_models.models.separable_sta import separable_sta
from core_models.models.skeleton_lstm import skeleton_lstm
from core_models.models.soft_attention_lstm import soft_attention_lstm
from core_models.models.stn import stn
from core_models.models.temporal_granularity import temporal_granularity
from core_models.models.two_stream import two_stream

MODELS = {
    "skeleton_lstm": skeleton_lstm,
    "i3d": i3d,
    "i3d_nl": i3d_nl,
    "part_attention": part_attention,
    "separable_sta": separable_sta,
    "temporal_granularity": temporal_granularity,
    "soft_attention_lstm": soft_attention_lstm,
    "stn": stn,
    "self_attention": self_attention,
    "two_stream": two_stream,
    "late_fusion": late_fusion,
    "glimpse_clouds": glimpse_clouds,
}
PRESETS = ("paper", "cpu")
POSE_CLASSIFIER_LABEL = "+ pose classifier"


def display_name(name: str, config: Any) -> str:
    """A model's name as results show it: ``separable_sta + pose classifier`` when its config fuses
    a pose classifier into the RGB logits (``pose_scores``, ``core_models.models.pose_scores``)."""
    return f"{name} {POSE_CLASSIFIER_LABEL}" if getattr(config, "pose_scores", False) else name


def build_model(name: str, preset: str = "cpu", *, num_classes: int, layout: SkeletonLayout = NTU25):
    """Build a model of :data:`MODELS` by name."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}")
    return MODELS[name](preset, num_classes=num_classes, layout=layout)


def describe(
    name: str, preset: str, *, num_classes: int = 60, layout: SkeletonLayout = NTU25
) -> dict[str, Any]:
    """What ``python -m core_models models`` reports for one model and preset."""
    model = build_model(name, preset, num_classes=num_classes, layout=layout)
    spec = model.input_spec
    return {
        "model": name,
        "label": display_name(name, model.config),
        "preset": preset,
        "parameters": sum(p.numel() for p in model.parameters()),
        "trainable": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "inputs": list(model.inputs),
        "attention": list(model.attention_kinds),
        "input_spec": {
            "rgb_frames": spec.num_frames if "rgb" in model.inputs else 0,
            "frame_size": spec.frame_size if "rgb" in model.inputs else None,
            "crops": list(spec.crops.parts) if spec.crops else [],
            "crop_size": spec.crops.size if spec.crops else None,
            "skeleton_steps": spec.skeleton_frames,
            "persons": spec.num_persons,
        },
        "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(model.config).items()},
        "doc": (type(model).__doc__ or "").strip().splitlines()[0],
    }


__all__ = [
    "ATTENTION_KINDS", "MODELS", "POSE_CLASSIFIER_LABEL", "PRESETS", "ModelOutput", "build_model",
    "check_output", "describe", "display_name",
]  # fmt: skip
