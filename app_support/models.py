"""Which trained models the app can show: shipped checkpoints and run directories.

A model directory holds ``model.pt`` (a weights-only checkpoint), ``settings.json`` (how it was
trained) and, once evaluated, ``eval/test/{predictions.parquet, metrics.json, COMPLETE}``. The
shipped ones live in ``checkpoints/``; runs started from the Train page, or by hand with
``python -m core_models train``, live under ``runs/``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from core_models.results import IncompleteRunError, eval_dir, read_eval

SHIPPED_DIR = Path("checkpoints")
RUNS_DIR = Path("runs")

# Attention each model returns (its class's ``attention_kinds``), so the list does not build models.
ATTENTION = {
    "skeleton_lstm": (),
    "i3d": (),
    "i3d_nl": ("nonlocal",),
    "part_attention": ("parts",),
    "separable_sta": ("spatial", "temporal"),
    "temporal_granularity": ("segments", "granularity"),
    "soft_attention_lstm": ("spatial",),
    "stn": ("grid",),
    "self_attention": ("self",),
    "two_stream": (),
    "late_fusion": (),
    "glimpse_clouds": ("glimpses", "assignment"),
}


# What each model reads (its input_spec: RGB frames; 2D joints for part crops or the person crop;
# a 3D skeleton), so the app can name the models that can read a clip without building them
# (tests/test_uploads_pose.py checks it against the models).
READS = {
    "skeleton_lstm": ("skeleton",),
    "i3d": ("video",),
    "i3d_nl": ("video",),
    "part_attention": ("video", "joints2d", "skeleton"),
    "separable_sta": ("video", "joints2d", "skeleton"),
    "temporal_granularity": ("video", "joints2d", "skeleton"),
    "soft_attention_lstm": ("video", "joints2d"),
    "stn": ("video", "joints2d"),
    "self_attention": ("video", "joints2d"),
    "two_stream": ("video",),
    "late_fusion": ("video", "joints2d"),
    "glimpse_clouds": ("video",),
}
JOINTS_OF_DATA = {"synth": 25, "ntu": 25, "nucla": 20, "smarthome": 13}


@dataclass(frozen=True)
class ModelEntry:
    """One model directory the app can load.

    Attributes:
        name: what the app shows (``part_attention-cs`` for a shipped one, ``runs/NAME`` for a run).
        path: the directory holding ``model.pt``.
        model: the key of ``core_models.models.MODELS``.
        preset, data, protocol: from the run's ``settings.json``.
        shipped: True for ``checkpoints/``.
        data_version: the synthetic data version it was trained on (``settings.json``; 1 for runs
            from before versions; ``None`` for real data).
        pose_classifier: a pose classifier is fused into its RGB logits (``pose_scores``).
        extra_attention: attention its config adds to its model's usual kinds (part attention's
            ``temporal`` with ``attend_time``; :data:`CONFIG_ATTENTION`).
        true_attention: the kinds its config replaces by the ground truth (``true_attention``, an
            experiment): on synthetic clips those weights are the truth, not learned.
    """

    name: str
    path: Path
    model: str
    preset: str
    data: str
    protocol: str
    shipped: bool
    data_version: int | None = None
    pose_classifier: bool = False
    extra_attention: tuple[str, ...] = ()
    true_attention: tuple[str, ...] = ()

    @property
    def checkpoint(self) -> Path:
        return self.path / "model.pt"

    @property
    def attention_kinds(self) -> tuple[str, ...]:
        return ATTENTION.get(self.model, ()) + self.extra_attention

    def label(self) -> str:
        """``part_attention-cs · CS · top-1 0.811`` (metrics when evaluated), ``· synthetic v1`` for
        models trained on the first synthetic data (their accuracy is on the current data)."""
        m = metrics(self)
        acc = f" · top-1 {m['top1']:.3f}" if m and "top1" in m else " · not evaluated"
        old = f" · trained on synthetic v{self.data_version}" if self.outdated else ""
        from core_models.models import POSE_CLASSIFIER_LABEL

        fused = f" {POSE_CLASSIFIER_LABEL}" if self.pose_classifier else ""
        true = f" (true {' and '.join(self.true_attention)} attention)" if self.true_attention else ""
        return f"{self.name}{fused}{true} · {self.protocol.upper()}{acc}{old}"

    @property
    def outdated(self) -> bool:
        """Trained on an older version of the synthetic data than the app renders."""
        from core_models.synth.actions import DATA_VERSION

        return self.data == "synth" and self.data_version is not None and self.data_version < DATA_VERSION


def missing_inputs(entry: ModelEntry, clip) -> list[str]:
    """What ``clip`` lacks for ``entry``'s model ("video", "2D joints", "a skeleton"); empty if nothing."""
    needs = READS.get(entry.model, ())
    out = []
    if "video" in needs and clip.frames is None:
        out.append("video")
    if "joints2d" in needs and clip.joints2d is None:
        out.append("2D joints")
    if "skeleton" in needs:
        joints = JOINTS_OF_DATA.get(entry.data)
        if clip.joints3d is None:
            out.append("a skeleton")
        elif joints is not None and clip.layout.num_joints != joints:
            out.append(f"a {joints}-joint skeleton (it has {clip.layout.num_joints})")
    return out


def readers_of(entries: list[ModelEntry], clip) -> list[ModelEntry]:
    """The entries whose model can read ``clip`` (see :func:`missing_inputs`)."""
    return [e for e in entries if not missing_inputs(e, clip)]


def _entry(path: Path, shipped: bool) -> ModelEntry | None:
    if not (path / "model.pt").is_file() or not (path / "settings.json").is_file():
        return None
    try:
        s = json.loads((path / "settings.json").read_text())
    except (OSError, ValueError):
        return None
    name = path.name if shipped else str(path)
    data = s.get("data", "?")
    version = s.get("data_version", 1 if data == "synth" else None)  # runs before versions: v1
    return ModelEntry(name, path, s.get("model", "?"), s.get("preset", "?"), data,
                      s.get("protocol", "?"), shipped, version, _pose_classifier(s),
                      _extra_attention(s), _true_attention(s))  # fmt: skip


# Attention a config field adds: model -> {field: kinds}.
CONFIG_ATTENTION = {"part_attention": {"attend_time": ("temporal",)}}


def _recorded_fields(settings: dict) -> dict:
    """A run's model config as ``settings.json`` records it, else its ``--set`` overrides."""
    config = settings.get("config")
    return config if isinstance(config, dict) else (settings.get("overrides") or {})


def _extra_attention(settings: dict) -> tuple[str, ...]:
    """The kinds a run's recorded config (else its overrides) switches on (:data:`CONFIG_ATTENTION`)."""
    fields = _recorded_fields(settings)
    extra = CONFIG_ATTENTION.get(settings.get("model"), {})
    return tuple(k for name, kinds in extra.items() if fields.get(name) for k in kinds)


def _true_attention(settings: dict) -> tuple[str, ...]:
    """The kinds a run's recorded config (else its overrides) replaces by the ground truth."""
    kinds = _recorded_fields(settings).get("true_attention") or ()
    return (kinds,) if isinstance(kinds, str) else tuple(str(k) for k in kinds)


# The models whose ``cpu`` preset fused a pose classifier before the presets dropped it (runs
# whose settings do not record the model config).
_FUSED_BEFORE = ("part_attention", "separable_sta", "temporal_granularity")


def _pose_classifier(settings: dict) -> bool:
    """Whether a run's model fuses a pose classifier: its recorded config, else its overrides, else
    what its preset did when runs did not record the config yet."""
    fields = _recorded_fields(settings)
    if isinstance(settings.get("config"), dict) or "pose_scores" in fields:
        return bool(fields.get("pose_scores", False))
    return settings.get("model") in _FUSED_BEFORE and settings.get("preset") == "cpu"


def list_models(shipped_dir: Path = SHIPPED_DIR, runs_dir: Path = RUNS_DIR) -> list[ModelEntry]:
    """Shipped checkpoints (sorted by name), then finished runs under ``runs_dir`` (newest first)."""
    out: list[ModelEntry] = []
    if shipped_dir.is_dir():
        for d in sorted(p for p in shipped_dir.iterdir() if p.is_dir()):
            e = _entry(d, True)
            if e:
                out.append(e)
    if runs_dir.is_dir():
        runs = [p.parent for p in runs_dir.glob("**/model.pt")]
        for d in sorted(runs, key=lambda p: p.stat().st_mtime, reverse=True):
            e = _entry(d, False)
            if e:
                out.append(e)
    return out


def find_model(name: str, entries: list[ModelEntry] | None = None) -> ModelEntry | None:
    for e in entries if entries is not None else list_models():
        if e.name == name:
            return e
    return None


def metrics(entry: ModelEntry, split: str = "test") -> dict[str, Any] | None:
    """The evaluation metrics of a model directory, or None when it has no complete evaluation."""
    out = eval_dir(entry.path, split)
    if not (out / "COMPLETE").is_file():
        return None
    try:
        return json.loads((out / "metrics.json").read_text())
    except (OSError, ValueError):
        return None


def predictions(entry: ModelEntry, split: str = "test") -> pd.DataFrame | None:
    """The per-clip evaluation table (one row per clip), or None when not evaluated."""
    try:
        return read_eval(entry.path, split)[0]
    except (IncompleteRunError, FileNotFoundError, OSError, ValueError):
        return None


FAITHFULNESS_COLUMNS = (
    "auc_deletion_parts", "auc_insertion_parts", "auc_deletion_segments", "auc_insertion_segments",
    "agreement_parts", "agreement_temporal", "agreement_spatial", "parts_truth_share", "interval_truth_share",
)  # fmt: skip


def faithfulness_frame(runs: dict[str, Any], split: str = "test") -> pd.DataFrame:
    """One row per (model, method) with a complete ``explain`` table: clip count and column means.

    Besides the means of :data:`FAITHFULNESS_COLUMNS`, ``faithfulness_parts`` / ``_segments`` is
    the mean over clips of (insertion AUC - deletion AUC) / the target's probability on the whole
    clip: how much better restoring the top-ranked units first does than removing them first, in
    units of the model's own confidence, so a model that is unsure of everything does not look
    faithful for its small AUCs.

    Args:
        runs: model name -> run directory.

    Returns:
        columns ``model``, ``method``, ``clips``, the faithfulness scores and the means, sorted by
        method then by ``faithfulness_segments`` (most faithful first).
    """
    from core_models.explain import METHODS, explain_path, read_explain
    from core_models.results import IncompleteRunError

    rows = []
    for name, run in runs.items():
        for method in METHODS:
            if not explain_path(run, method, split).is_file():
                continue
            try:
                table = read_explain(run, method, split)
            except (IncompleteRunError, OSError, ValueError):
                continue
            row = {"model": name, "method": method, "clips": len(table)}
            for over in ("parts", "segments"):
                gap = table[f"auc_insertion_{over}"] - table[f"auc_deletion_{over}"]
                row[f"faithfulness_{over}"] = float((gap / table["prob_target"].clip(lower=1e-6)).mean())
            row.update({c: float(table[c].mean()) for c in FAITHFULNESS_COLUMNS if c in table})
            rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    return frame.sort_values(["method", "faithfulness_segments"], ascending=[True, False]).reset_index(
        drop=True
    )
