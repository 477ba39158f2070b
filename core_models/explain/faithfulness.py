"""Faithfulness of an attribution, and its agreement with the learned attention and the truth.

* :func:`agreement`: Spearman rank correlation between the model's learned attention and the
  attribution, per attention kind (parts, temporal, spatial);
* :func:`deletion_insertion`: the target's probability as the most important units (parts or
  temporal segments) are removed from the input, or added back onto a blank one;
* :func:`truth_scores`: on synthetic clips, the share of attribution (and attention) on the body
  parts that carry the action and inside the frame interval that tells the class apart;
* :func:`explain_run`: all of that for every clip of a split, into the run's results store.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 (the usual PyTorch alias)

from core_models.data.clip import Clip
from core_models.explain.attribution import (
    Curves,
    ExplainSettings,
    Explanation,
    Progress,
    _Inputs,
    _part_units,
    _prepare,
    _segment_units,
    explain,
    importance_order,
)
from core_models.inspect import Inspection, LoadedModel

# ---------------------------------------------------------------------------------------------
# agreement with attention, faithfulness, ground truth


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation (average ranks for ties); NaN when either side is constant."""
    ra, rb = _ranks(np.ravel(a)), _ranks(np.ravel(b))
    if len(ra) != len(rb):
        raise ValueError(f"spearman needs equal lengths, got {len(ra)} and {len(rb)}")
    ra, rb = ra - ra.mean(), rb - rb.mean()
    den = math.sqrt(float((ra**2).sum() * (rb**2).sum()))
    return float((ra * rb).sum() / den) if den > 1e-12 else float("nan")


def _ranks(x: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x))
    ranks[order] = np.arange(len(x), dtype=np.float64)
    for v in np.unique(x):  # ties share their mean rank
        tie = x == v
        if tie.sum() > 1:
            ranks[tie] = ranks[tie].mean()
    return ranks


def _resample(x: np.ndarray, n: int) -> np.ndarray:
    """Equal bins over the clip, read at the centres of ``n`` equal bins (piecewise constant)."""
    x = np.asarray(x, dtype=np.float64)
    centres = (np.arange(n) + 0.5) / n
    return x[np.minimum((centres * len(x)).astype(int), len(x) - 1)]


def _learned_temporal(att: dict[str, Any]) -> np.ndarray | None:
    """The attention's weight over the clip's time: ``temporal``, or the segment attention
    (each granularity as a density over the clip, mixed by the granularity attention)."""
    if "temporal" in att:
        return np.asarray(att["temporal"], dtype=np.float64)
    segs = att.get("segments")
    if not segs:
        return None
    grans = sorted(int(g) for g in segs)
    n = math.lcm(*grans)
    mix = np.asarray(att.get("granularity", np.full(len(grans), 1 / len(grans))), dtype=np.float64)
    if len(mix) != len(grans):
        mix = np.full(len(grans), 1 / len(grans))
    return sum(w * _resample(np.asarray(segs[g]) * g, n) for w, g in zip(mix, grans, strict=True))


def agreement(insp: Inspection, expl: Explanation) -> dict[str, float]:
    """Spearman rank correlation between learned attention and attribution, where both exist.

    * ``parts``: the model's part attention (mean over time) against ``expl.parts`` on the part
      names both have (at least 2);
    * ``temporal``: ``temporal`` or ``segments`` attention against ``expl.segments``, both read on
      a common grid over the clip;
    * ``spatial``: the spatial map against ``expl.pixels`` average-pooled to the map's grid (per
      feature step when the map has one).

    Kinds that do not apply, or where either side is constant, are left out (no NaN).
    """
    att = insp.attention
    out: dict[str, float] = {}
    if "parts" in att and expl.parts:
        learned = np.asarray(att["parts"], dtype=np.float64)
        learned = learned.mean(0) if learned.ndim == 2 else learned
        names = [n for n in insp.part_names if n in expl.parts]
        if len(names) >= 2 and len(insp.part_names) == len(learned):
            a = [learned[insp.part_names.index(n)] for n in names]
            out["parts"] = spearman(np.asarray(a), np.asarray([expl.parts[n] for n in names]))
    learned_t = _learned_temporal(att)
    if learned_t is not None and len(learned_t) > 1:
        n = max(len(learned_t), len(expl.segments))
        out["temporal"] = spearman(_resample(learned_t, n), _resample(expl.segments, n))
    if "spatial" in att and expl.pixels is not None:
        sp = np.asarray(att["spatial"], dtype=np.float64)
        px = torch.as_tensor(expl.pixels, dtype=torch.float64)  # (T, S, S)
        if sp.ndim == 3:  # (T', H', W')
            pooled = F.adaptive_avg_pool3d(px[None, None], sp.shape)[0, 0]
        else:
            pooled = F.adaptive_avg_pool2d(px.sum(0)[None, None], sp.shape)[0, 0]
        out["spatial"] = spearman(sp, pooled.numpy())
    return {k: v for k, v in out.items() if np.isfinite(v)}


def deletion_insertion(
    loaded: LoadedModel, clip: Clip, order: list[int] | np.ndarray, over: str, target: int,
    *, batch_size: int = 8, prepared: Any = None,
) -> Curves:  # fmt: skip
    """Faithfulness curves over body parts or temporal segments.

    Deletion sets the units in ``order`` to the baseline (zero) one after another, most important
    first; insertion starts from the baseline and puts them back in the same order. Each curve
    holds the target's softmax probability after 0, 1, ..., n units; the AUC is the trapezoid area
    over the fraction of units. Only the inputs the units live in change: for parts, the crops
    (``parts_source="crops"``) or the skeleton joints (``"skeleton"``), the other inputs are kept;
    for segments, every input's frames in the segment.

    Args:
        order: a permutation of the units (``importance_order(expl, over)``): for ``parts`` the
            part order of ``explain``'s ``parts`` on this model, for ``segments`` ``len(order)``
            equal segments of the clip.
        over: ``"parts"`` or ``"segments"``.
        target: the class whose probability is followed.
        prepared: the clip's ``prepare_clip`` arrays for this model, when the caller has them.
    """
    inputs = _prepare(loaded, clip, prepared)
    order = [int(i) for i in order]
    if over == "parts":
        _, names, units = _part_units(inputs)
        if not units:
            raise ValueError(f"{type(inputs.model).__name__}'s input has no body-part units")
    elif over == "segments":
        units = _segment_units(inputs, len(order))
        names = [f"segment {g + 1}" for g in range(len(order))]
    else:
        raise ValueError(f"over must be 'parts' or 'segments', got {over!r}")
    if sorted(order) != list(range(len(units))):
        raise ValueError(f"order must be a permutation of 0..{len(units) - 1}, got {order}")
    keys = sorted({k for u in units for k in u})
    xs = {k: inputs.batch[k] for k in keys}
    removed = {k: torch.zeros_like(xs[k], dtype=torch.bool) for k in keys}
    variants: list[dict[str, torch.Tensor]] = [dict(xs)]  # deletion, k = 0..n
    for i in order:
        for k, m in units[i].items():
            removed[k] = removed[k] | m
        variants.append({k: xs[k] * ~removed[k] for k in keys})
    kept = {k: torch.zeros_like(xs[k], dtype=torch.bool) for k in keys}
    variants.append({k: xs[k] * kept[k] for k in keys})  # insertion, k = 0..n
    for i in order:
        for k, m in units[i].items():
            kept[k] = kept[k] | m
        variants.append({k: xs[k] * kept[k] for k in keys})
    probs = _probabilities(inputs, variants, target, batch_size)
    n = len(order)
    deletion, insertion = probs[: n + 1], probs[n + 1 :]
    fractions = np.arange(n + 1) / n
    return Curves(
        fractions=fractions, deletion=deletion, insertion=insertion,
        auc_deletion=float(np.trapezoid(deletion, fractions)),
        auc_insertion=float(np.trapezoid(insertion, fractions)),
        units=[names[i] for i in order],
    )  # fmt: skip


def _probabilities(inputs: _Inputs, variants: list[dict], target: int, batch_size: int) -> np.ndarray:
    f = inputs.forward()
    out = []
    with torch.no_grad():
        for s in range(0, len(variants), batch_size):
            chunk = variants[s : s + batch_size]
            xs = [torch.cat([v[k] if k in v else inputs.batch[k] for v in chunk]) for k in inputs.keys]
            out.append(torch.softmax(f(*xs), dim=-1)[:, target].cpu())
    return torch.cat(out).numpy().astype(np.float64)


def truth_scores(clip: Clip, expl: Explanation, insp: Inspection | None = None) -> dict[str, float]:
    """How attribution (and attention, with ``insp``) meets a synthetic clip's ground truth.

    Returns (``{}`` for a clip without truth):
        ``parts_truth_share``: attribution on the parts that carry the action (skeleton: on their
        joints; crops: on the crops named like them); ``interval_truth_share``: attribution in the
        frame interval that tells the class apart; ``interval_fraction``: what a uniform spread
        gets there; with ``insp``, ``attention_parts_truth_share`` and
        ``attention_interval_truth_share`` the same for the learned attention.
    """
    from core_models.evaluate import overlap_share

    truth = clip.truth
    if truth is None:
        return {}
    active = set(truth.active_parts())
    T = max(clip.num_frames, 1)
    interval = (truth.interval[0] / T, truth.interval[1] / T)
    out = {
        "interval_fraction": interval[1] - interval[0],
        "interval_truth_share": overlap_share(np.asarray(expl.segments), interval),
    }
    if expl.parts_source == "skeleton" and expl.joints is not None:
        out["parts_truth_share"] = float(expl.joints[clip.layout.part_mask(sorted(active))].sum())
    elif expl.parts:
        out["parts_truth_share"] = float(sum(w for n, w in expl.parts.items() if n in active))
    if insp is not None:
        att = insp.attention
        if "parts" in att and insp.part_names:
            p = np.asarray(att["parts"], dtype=np.float64)
            p = p.mean(0) if p.ndim == 2 else p
            out["attention_parts_truth_share"] = float(
                sum(w for n, w in zip(insp.part_names, p, strict=False) if n in active)
            )
        if "temporal" in att:
            out["attention_interval_truth_share"] = overlap_share(np.asarray(att["temporal"]), interval)
        elif att.get("segments"):
            shares = [
                overlap_share(np.asarray(v), interval) for g, v in att["segments"].items() if int(g) > 1
            ]
            if shares:
                out["attention_interval_truth_share"] = float(np.mean(shares))
    return out


# ---------------------------------------------------------------------------------------------
# a whole split into the results store


def explain_path(run_dir: str | Path, method: str, split: str = "test") -> Path:
    """Where :func:`explain_run` writes: ``RUN/eval/<split>/explain-<method>.parquet``."""
    from core_models.results import eval_dir

    return eval_dir(run_dir, split) / f"explain-{method}.parquet"


def _marker(path: Path) -> Path:
    return path.with_name(path.stem + ".COMPLETE")


def read_explain(run_dir: str | Path, method: str, split: str = "test"):
    """The table :func:`explain_run` wrote (raises ``IncompleteRunError`` if it did not finish)."""
    import pandas as pd

    from core_models.results import IncompleteRunError

    path = explain_path(run_dir, method, split)
    if not _marker(path).is_file():
        raise IncompleteRunError(
            f"{path}: no finished explanation (no {_marker(path).name}); run "
            f"`python -m core_models explain --run {run_dir} --method {method} --split {split}`"
        )
    return pd.read_parquet(path)


def _spread(items: list, limit: int | None) -> list:
    """``limit`` items spread evenly over ``items`` (all of them without a limit), so a subset
    still covers every class, subject and view of a split listed in name order."""
    if not limit or limit >= len(items):
        return list(items)
    return [items[i] for i in np.unique(np.linspace(0, len(items) - 1, limit).round().astype(int))]


def run_clips(run_dir: str | Path, split: str = "test", limit: int | None = None):
    """The clips of a run's split, as ``(name, loader)`` pairs (``loader()`` returns the Clip).

    ``limit`` keeps that many clips spread evenly over the split. The run's ``settings.json``
    names the data, root and protocol. When the root is missing and
    the data is the built-in synthetic set, the clip names of the split are listed from the
    synthetic generator and each clip is rendered by name with ``dataset_clip``, exactly as the
    written dataset holds it (seed 0, the dataset's size), so shipped runs work without a dataset.
    """
    from core_models.data import open_reader

    run_dir = Path(run_dir)
    settings = (
        json.loads((run_dir / "settings.json").read_text()) if (run_dir / "settings.json").is_file() else {}
    )
    data, root = settings.get("data", "synth"), settings.get("root")
    protocol = settings.get("protocol", "cs")
    if root is not None and Path(root).is_dir():
        reader = open_reader(data, root)
        refs = _spread(reader.split(protocol, split), limit)
        return [(r.name, lambda r=r: reader.load(r)) for r in refs]
    if data != "synth":
        raise SystemExit(f"the {data} data of {run_dir} is not at {root}; pass a run whose data exists")
    from core_models.data.clip import ClipRef
    from core_models.data.ntu import parse_name
    from core_models.synth.generate import dataset_clip, list_names, synth_reader

    sides = {"trainval": ("train", "val"), "all": ("train", "val", "test")}.get(split, (split,))
    reader = synth_reader(run_dir)  # only its protocol rules; nothing is listed
    names = _spread(
        [
            n
            for n in list_names()
            if reader.side(ClipRef(n, 0, "", None, None, parse_name(n)), protocol) in sides
        ],
        limit,
    )
    return [(n, lambda n=n: dataset_clip(n)) for n in names]


def explain_run(
    run_dir: str | Path,
    method: str,
    split: str = "test",
    limit: int | None = None,
    progress: Progress | None = None,
    *,
    settings: ExplainSettings | None = None,
) -> Path:
    """Explain every clip of a run's split and write one row per clip into its results store.

    Writes ``RUN/eval/<split>/explain-<method>.parquet`` atomically, then its own marker
    ``explain-<method>.COMPLETE``. Rows: clip, label, target, target_name, part_names, parts,
    parts_source, segments, agreement_parts / _temporal / _spatial (NaN where not applicable),
    auc_deletion_parts, auc_insertion_parts, auc_deletion_segments, auc_insertion_segments,
    the :func:`truth_scores` on synthetic clips, and seconds. Works on shipped runs under
    ``checkpoints/`` too (see :func:`run_clips` for runs whose dataset is missing).

    Args:
        progress: called as ``progress(done_clips, total_clips)``.
        settings: the method's settings (default: ``ExplainSettings(method)``).
    """
    import pandas as pd

    from core_models import results
    from core_models.data.datasets import prepare_clip
    from core_models.inspect import check_fits, inspect_clip, load_model

    run_dir = Path(run_dir)
    settings = settings or ExplainSettings(method)
    if settings.method != method:
        raise ValueError(f"settings are for {settings.method}, not {method}")
    path = explain_path(run_dir, method, split)
    loaded = load_model(run_dir / "model.pt", run_dir.name)  # a folder with no run: nothing is created
    results.check_writable(path.parent)  # a read-only run is refused before any clip is explained
    clips = run_clips(run_dir, split, limit)
    _marker(path).unlink(missing_ok=True)
    rows = []
    for i, (name, load) in enumerate(clips):
        clip = load()
        check_fits(loaded.model, clip)  # before preparing it: says what the model reads instead
        prepared = prepare_clip(clip, loaded.model.input_spec)  # once for the four passes below
        insp = inspect_clip(loaded, clip, prepared=prepared)
        expl = explain(loaded, clip, settings, prepared=prepared)
        row: dict[str, Any] = {
            "clip": name, "label": int(clip.label), "target": expl.target, "target_name": expl.target_name,
            "pred": insp.pred, "prob_target": float(insp.probs[expl.target]),
            "part_names": list(expl.parts), "parts": list(expl.parts.values()),
            "parts_source": expl.parts_source, "segments": expl.segments.tolist(),
        }  # fmt: skip
        for kind in ("parts", "temporal", "spatial"):
            row[f"agreement_{kind}"] = float("nan")
        row.update({f"agreement_{k}": v for k, v in agreement(insp, expl).items()})
        for over in ("parts", "segments"):
            if over == "parts" and not expl.parts:
                row["auc_deletion_parts"] = row["auc_insertion_parts"] = float("nan")
                continue
            curves = deletion_insertion(
                loaded, clip, importance_order(expl, over), over, expl.target, prepared=prepared
            )
            row[f"auc_deletion_{over}"] = curves.auc_deletion
            row[f"auc_insertion_{over}"] = curves.auc_insertion
        row.update(truth_scores(clip, expl, insp))
        row["seconds"] = expl.seconds
        rows.append(row)
        if progress is not None:
            progress(i + 1, len(clips))
    results.write_parquet(path, pd.DataFrame(rows))
    results.write_json(
        _marker(path),
        {"clips": len(rows), "method": method, "split": split,
         "settings": asdict(settings), "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")},
    )  # fmt: skip
    return path
