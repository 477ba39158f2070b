"""Fitting a checkpoint's out-of-distribution statistics, and measuring how well each score separates.

* :func:`fit_checkpoint` runs the model over its training split (evaluation transform: bin
  centres, no randomness), fits :class:`~core_models.ood.stats.OODStats` on the features,
  calibrates the thresholds on the validation split (held-out subjects) and stores the result in
  the checkpoint under ``"ood"``. ``train`` calls it at the end of every run; ``python -m
  core_models ood --run DIR`` does it for an existing run (the shipped checkpoints were fitted so).
* :func:`measure` scores in-distribution test clips against the out-of-distribution clips of
  :mod:`core_models.ood.inputs` and returns each score's AUROC (``python -m core_models bench ood``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from core_models.data.clip import Clip
from core_models.ood.stats import SCORES, OODStats, auroc, calibrate, fit, scores

Progress = Callable[[int, int], None]


@torch.no_grad()
def collect(
    model: nn.Module, items: Iterable[dict[str, torch.Tensor]], *, batch_size: int = 16, total: int = 0,
    progress: Progress | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """Run ``model`` (eval mode) over items; returns ``(features (N, D), logits (N, K), labels (N,))``."""
    model.eval()
    device = next(model.parameters()).device
    feats, logits, labels, batch = [], [], [], []

    def flush():
        keys = set.intersection(*(set(b) for b in batch))
        stacked = {k: torch.stack([b[k] for b in batch]).to(device) for k in keys}
        out = model(stacked)
        if out.features is None:
            raise ValueError(f"{type(model).__name__} returns no features; it cannot have an OOD score")
        feats.append(out.features.float().cpu().numpy())
        logits.append(out.logits.float().cpu().numpy())
        labels.append(stacked["label"].cpu().numpy())
        batch.clear()

    done = 0
    for item in items:
        batch.append(item)
        if len(batch) == batch_size:
            done += len(batch)
            flush()
            if progress is not None:
                progress(done, total)
    if batch:
        done += len(batch)
        flush()
        if progress is not None:
            progress(done, total)
    if not feats:
        return np.zeros((0, 0)), np.zeros((0, 0)), np.zeros(0, np.int64)
    return np.concatenate(feats), np.concatenate(logits), np.concatenate(labels)


def clip_items(clips: Iterable[Clip], spec) -> Iterable[dict[str, torch.Tensor]]:
    """Items of loaded clips as the app and evaluation prepare them (bin centres)."""
    from core_models.data.datasets import make_item, prepare_clip

    for clip in clips:
        yield make_item(prepare_clip(clip, spec), spec, max(clip.label, 0))


def fit_checkpoint(
    path: str | Path,
    *,
    reader,
    splits: dict[str, list],
    protocol: str,
    cache_dir: str | None = None,
    device: torch.device | str = "cpu",
    progress: Progress | None = None,
) -> OODStats:
    """Fit the statistics of the checkpoint at ``path`` on ``splits["train"]``, calibrate them on
    ``splits["val"]`` (``"test"`` when there is no validation split) and store them in the file.

    Returns:
        the fitted :class:`OODStats`.
    """
    from core_models.checkpoint import build_from_checkpoint, load_checkpoint, save_checkpoint
    from core_models.data.datasets import ClipDataset

    path = Path(path)
    ckpt = load_checkpoint(path)
    model = build_from_checkpoint(ckpt, path).to(device)
    spec = model.input_spec

    def run(refs):
        ds = ClipDataset(reader, refs, spec, train=False, cache_dir=cache_dir, protocol=protocol)
        return collect(model, (ds[i] for i in range(len(ds))), total=len(ds), progress=progress)

    f, z, y = run(splits["train"])
    stats = fit(f, y, int(ckpt["num_classes"]))
    held = splits.get("val") or splits["test"]
    fv, zv, _ = run(held)
    calibrate(stats, fv, zv)
    ckpt["ood"] = stats.to_checkpoint()
    save_checkpoint(path, ckpt)
    return stats


def fit_run(
    run_dir: str | Path,
    *,
    root: str | None = None,
    limit: int = 0,
    cache_dir: str | None = ".cache/prepared",
    progress: Progress | None = None,
) -> OODStats:
    """:func:`fit_checkpoint` for ``run_dir/model.pt``, on the data its ``settings.json`` names.

    Args:
        run_dir: a run directory (or a shipped one under ``checkpoints/``).
        root: the dataset root, if not the one the run was trained on.
        limit: keep this many clips of each split, spread over it (0: all).
        cache_dir: the prepared-clip cache (``None``: none).
    """
    from core_models.data import open_reader
    from core_models.train import _spread

    run_dir = Path(run_dir)
    settings_path = run_dir / "settings.json"
    if not settings_path.is_file():
        raise FileNotFoundError(f"{run_dir}: no settings.json; expected a run directory written by train")
    s = json.loads(settings_path.read_text())
    data_root = Path(root or s["root"])
    if not data_root.is_dir():
        raise FileNotFoundError(
            f"{data_root}: the dataset the run was trained on is not there; pass --root "
            + (
                "(make the synthetic one with `python -m core_models synth --out data/synth`)"
                if s["data"] == "synth"
                else ""
            )
        )
    reader = open_reader(s["data"], data_root)
    splits = {k: reader.split(s["protocol"], k) for k in ("train", "val", "test")}
    if limit:
        splits = {k: _spread(v, limit) for k, v in splits.items()}
    return fit_checkpoint(
        run_dir / "model.pt", reader=reader, splits=splits, protocol=s["protocol"], cache_dir=cache_dir,
        progress=progress,
    )  # fmt: skip


def measure(
    model: nn.Module,
    stats: OODStats,
    inside: list[Clip],
    outside: dict[str, list[Clip]],
    *,
    readable: Callable[[Clip], bool] | None = None,
) -> dict[str, Any]:
    """AUROC of every score: in-distribution ``inside`` clips against each kind of ``outside``.

    Clips the model cannot read (``readable`` False: e.g. no skeleton found in a photo) are left
    out, as the app would not score them. Returns ``{"auroc": {kind: {score: value}, "all": ...},
    "clips": {kind: n}, "outside_rate": {kind: share above the threshold}, "inside_rate": ...}``.
    """
    spec = model.input_spec
    ok = readable or (lambda c: True)

    def run(clips):
        clips = [c for c in clips if ok(c)]
        if not clips:
            return None
        f, z, _ = collect(model, clip_items(clips, spec))
        return scores(stats, f, z)

    ins = run(inside)
    result: dict[str, Any] = {"auroc": {}, "clips": {"inside": len(inside)}, "outside_rate": {}}
    result["inside_rate"] = float(np.mean(ins[stats.score] > stats.threshold))
    pooled: dict[str, list] = {s: [] for s in SCORES}
    for kind, clips in outside.items():
        out = run(clips)
        result["clips"][kind] = 0 if out is None else len(out[SCORES[0]])
        if out is None:
            continue
        result["auroc"][kind] = {s: auroc(ins[s], out[s]) for s in SCORES}
        result["outside_rate"][kind] = float(np.mean(out[stats.score] > stats.threshold))
        for s in SCORES:
            pooled[s].append(out[s])
    if pooled[SCORES[0]]:
        result["auroc"]["all"] = {s: auroc(ins[s], np.concatenate(pooled[s])) for s in SCORES}
    return result
