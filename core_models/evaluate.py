"""Evaluation: per-clip predictions with attention summaries, metrics, and attention vs ground truth.

``python -m core_models evaluate --run RUN_DIR`` (or ``--checkpoint FILE --out DIR``) runs the
model over a split and writes into the results store (``core_models.results``):

``predictions.parquet``, one row per clip:
    clip, label, label_name, pred, pred_name, correct, confidence (probability of the prediction),
    prob_true, top5 (class indices), probs (every class), subject, view, setup, repetition;
    ``pred_<stream>`` for each separate stream of a fused model and ``pred_part_<name>`` for each
    body-part stream's own head (part attention);
    compact attention summaries, by kind: ``parts`` (mean over time when per step) and
    ``parts_time``, ``temporal``, ``spatial`` (mean over time), ``segments_G`` per granularity,
    ``granularity``, ``glimpse_centres`` (T' x N x 2), ``assignment`` (mean over time, C x N),
    ``self_attention`` (mean over heads), ``grid_box`` (x0, x1, y0, y1 of the STN grid);
    ``step_reads_truth_share`` (with its baselines) for a model that reads each step alone
    (part attention's ``step_reads``): the share of the label's probability the steps' own reads
    put on the interval, the target its ``step_target="explains"`` steps learn (unsharpened);
    ``glimpses_truth_share`` (share of glimpse area on the person's box from the 2D joints, any
    data that has them) with ``glimpses_uniform`` and ``glimpses_best``;
    on synthetic clips the ground truth (``truth_parts``, ``truth_interval`` as fractions of the
    clip) and how attention meets it: ``parts_truth_share`` (part weight on the parts that carry
    the action), ``temporal_truth_share`` and ``segments_truth_share`` (weight on the interval
    that tells the class apart), and ``interval_fraction``, the share a uniform attention gets;
    for a model whose attention can be steered (with interventions), ``uniform_pred`` and, on
    clips with a ground truth, ``truth_pred``: the class it predicts with equal weights and with
    the ground-truth attention at its resolution.

``metrics.json``: top-1, top-5, mean per-class accuracy, per-class accuracy, accuracy per view and
per subject, the confusion matrix (rows: truth, columns: prediction), and on synthetic data the
accuracy on the temporally opposite pairs (plain and two-way within the pair) and the attention
vs ground-truth means (all clips, hand actions); ``streams`` and ``part_streams`` (each stream
alone; for the part streams also the acting hand's and the idle hand's on one-hand clips).

Feature time step ``k`` of ``T'`` covers the fraction ``[k/T', (k+1)/T')`` of the clip (frames are
sampled in equal bins over the whole clip), and segment ``k`` of granularity ``G`` covers
``[k/G, (k+1)/G)``; a step's weight counts towards the interval in proportion to its overlap.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from core_models import attention_scores as scores
from core_models import losses, results
from core_models.checkpoint import CheckpointError, build_from_checkpoint, load_checkpoint, unwrap
from core_models.data.datasets import collate_items, loader_workers

HAND_PARTS = {"left_hand", "right_hand"}
EVAL_MEMORY_MB = 1024  # prepared clips an evaluation with interventions keeps between its passes
REUSE_MEMORY_MB = 1024  # the trunk's maps the interventions keep from their first pass for the others
# The aux outputs that are a fused model's separate streams (each (B, K)).
STREAM_KEYS = ("rgb_logits", "pose_logits", "flow_logits", "i3d_logits", "cnn2d_logits")


# ---------------------------------------------------------------------------------------------
# attention summaries


def overlap_share(weights: np.ndarray, interval: tuple[float, float]) -> float:
    """Weight of equal consecutive bins that falls inside ``interval`` (fractions of the clip)."""
    return float(np.sum(np.asarray(weights) * scores.bin_coverage(len(weights), interval)))


def _fields(model, kind: str, n: int) -> np.ndarray | None:
    """The fields a model declares for its ``n`` units of attention ``kind`` (None: equal bins)."""
    fn = getattr(model, "attention_fields", None)
    return fn(kind, n) if fn is not None else None


def attention_rows(out, batch: dict[str, torch.Tensor], model) -> list[dict[str, Any]]:
    """Compact per-clip summaries of every attention a model returned (see module docstring)."""
    att = {k: _np(v) for k, v in out.attention.items() if k not in ("segments", "nonlocal")}
    segs = {int(g): _np(v) for g, v in out.attention.get("segments", {}).items()}
    B = out.logits.shape[0]
    part_names = list(getattr(model.config, "parts", ()) or ())
    joints2d = _np(batch["joints2d"]) if "joints2d" in batch and "glimpses" in att else None
    truth = _truth_columns(batch, B)
    reads = _label_shares(out, batch) if truth is not None and "temporal" in att else None
    rows = []
    for i in range(B):
        r: dict[str, Any] = {}
        if "parts" in att:
            p = att["parts"][i]
            if p.ndim == 2:
                r["parts_time"] = p.tolist()
                p = p.mean(0)
            r["parts"] = p.tolist()
            for name, w in zip(part_names, p, strict=False):
                r[f"part_{name}"] = float(w)
        if "temporal" in att:
            r["temporal"] = att["temporal"][i].tolist()
        if "spatial" in att:
            sp = att["spatial"][i]
            r["spatial"] = (sp.mean(0) if sp.ndim == 3 else sp).tolist()
        for g, v in sorted(segs.items()):
            r[f"segments_{g}"] = v[i].tolist()
        if "granularity" in att:
            r["granularity"] = att["granularity"][i].tolist()
        if "glimpses" in att:
            r["glimpse_centres"] = att["glimpses"][i][..., :2].tolist()
            if joints2d is not None:
                sc = scores.glimpse_person_scores(att["glimpses"][i], joints2d[i])
                if sc is not None:
                    _put(r, "glimpses", sc)
        if "assignment" in att:
            r["assignment"] = att["assignment"][i].mean(0).tolist()
        if "self" in att:
            r["self_attention"] = att["self"][i].mean(0).tolist()
        if "grid" in att:
            r["grid_box"] = scores.grid_box(att["grid"][i])
        if truth is not None:
            r.update(truth[i])
            ti = truth[i]["truth_interval"]
            if "parts" in r and part_names:
                ps = scores.part_scores(
                    r["parts"], part_names, r["truth_parts"], acting_hand=r["acting_hand"]
                )
                r["parts_truth_share"], r["parts_uniform"], r["parts_best"] = (
                    ps["share"],
                    ps["uniform"],
                    ps["best"],
                )
                r["parts_acting_margin"] = ps.get("acting_margin")
            if "temporal" in r:
                w = np.asarray(r["temporal"])
                fields = _fields(model, "temporal", len(w))
                _put(r, "temporal", scores.temporal_scores(w, ti, fields))
                if reads is not None and reads.shape[1] == len(w):  # the steps' target, unsharpened
                    _put(r, "step_reads", scores.temporal_scores(reads[i], ti, fields))
            if segs:
                per_g, mean = scores.segment_scores(
                    {g: v[i] for g, v in segs.items()}, ti, lambda kind, n: _fields(model, kind, n)
                )
                for g, sc in per_g.items():
                    _put(r, f"segments_{g}", sc)
                if mean is not None:
                    _put(r, "segments", mean)
        rows.append(r)
    return rows


def _label_shares(out, batch: dict[str, torch.Tensor]) -> np.ndarray | None:
    """(B, T') how the label's probability splits over the steps when each step is read alone
    (``p_t(y) / sum_s p_s(y)``, from ``aux["step_logits"]``): where the reads say the clip's
    evidence is, the target part attention's ``step_target="explains"`` steps learn before its
    ``step_sharpness``; None for a model without step reads."""
    step_logits = out.aux.get("step_logits")
    if step_logits is None or step_logits.dim() != 3:
        return None
    return _np(losses.label_shares(step_logits.float(), batch["label"]))


def _truth_columns(batch: dict[str, torch.Tensor], B: int) -> list[dict[str, Any]] | None:
    """Each clip's ground truth as its row holds it (the parts' names, the interval as fractions
    and its length, the dominant and acting hands), made from the batch's tensors at once; None
    for a batch without ground truth (a dataset whose clips carry none)."""
    if "truth_parts" not in batch or "truth_interval" not in batch:
        return None
    from core_models.data.layouts import NTU25

    hands = {0: "left", 1: "right"}
    names: dict[tuple[bool, ...], list[str]] = {}  # a batch holds few distinct part sets
    parts = batch["truth_parts"].bool().tolist()
    intervals = batch["truth_interval"].float().tolist()
    dominant = batch["truth_dominant"].tolist() if "truth_dominant" in batch else [-1] * B
    acting = batch["truth_acting"].tolist() if "truth_acting" in batch else [-1] * B
    out = []
    for tp, ti, dom, act in zip(parts, intervals, dominant, acting, strict=True):
        key = tuple(tp)
        if key not in names:
            names[key] = [n for n, t in zip(NTU25.part_names, key, strict=False) if t]
        out.append({
            "truth_parts": list(names[key]), "truth_interval": ti, "interval_fraction": ti[1] - ti[0],
            "dominant": hands.get(dom), "acting_hand": hands.get(act),
        })  # fmt: skip
    return out


def _put(row: dict, kind: str, sc: dict[str, float]) -> None:
    row[f"{kind}_truth_share"] = sc["share"]
    for k in ("uniform", "best", "middle"):
        if k in sc:
            row[f"{kind}_{k}"] = sc[k]


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().float().cpu().numpy()


# ---------------------------------------------------------------------------------------------
# running a model over clips


def _steerable(out, name: str) -> torch.Tensor:
    """The attention tensor an override named ``name`` replaces (see ``models.output.steer``)."""
    kind, _, key = name.partition(":")  # ``segments:G`` / ``nonlocal:<block>``: one entry of a dict kind
    if not key:
        return out.attention[name]
    return out.attention[kind][int(key) if key.isdigit() else key]


def predict_rows(
    model, dataset, *, batch_size: int, device, workers: int = 0, progress: bool = True, capture: bool = False
):
    """Per-clip rows (prediction, probabilities, attention summaries) for every item of ``dataset``.

    With ``capture`` also returns ``{name: (N, ...) tensor}`` of each steerable attention (the
    model's ``steerable`` names), in dataset order, for the interventions.
    """
    from torch.utils.data import DataLoader
    from tqdm import tqdm

    loader = DataLoader(
        dataset, batch_size=batch_size, shuffle=False, num_workers=loader_workers(workers, device),
        collate_fn=collate_items,
    )  # fmt: skip
    model.eval()
    rows = []
    names = tuple(getattr(unwrap(model), "steerable", ())) if capture else ()
    captured: dict[str, list[torch.Tensor]] = {n: [] for n in names}
    with torch.no_grad():
        for batch in tqdm(loader, desc="evaluating", unit="batch", leave=False, disable=not progress):
            batch = {k: v.to(device) for k, v in batch.items()}
            out = model(batch)
            probs = torch.softmax(out.logits.float(), dim=1).cpu()
            k = min(5, probs.shape[1])
            top = probs.topk(k, dim=1).indices
            extra = attention_rows(out, batch, unwrap(model))
            streams = {key.removesuffix("_logits"): out.aux[key].argmax(1).cpu()
                       for key in STREAM_KEYS if key in out.aux}  # fmt: skip
            if "part_logits" in out.aux:  # (B, P, K): each body-part stream's own head
                part_preds = out.aux["part_logits"].argmax(-1).cpu()
                for p, name in enumerate(getattr(unwrap(model).config, "parts", ())):
                    streams[f"part_{name}"] = part_preds[:, p]
            for n in names:
                captured[n].append(_steerable(out, n).detach().float().cpu())
            # Python lists once per batch: indexing tensors clip by clip cost more than the
            # forward of the small models (the same numbers either way)
            prob_rows, top_rows = probs.tolist(), top.tolist()
            stream_rows = {f"pred_{s}": v.tolist() for s, v in streams.items()}
            labels = batch["label"].tolist()
            for i, idx in enumerate(batch["index"].tolist()):
                label, ref = labels[i], dataset.refs[idx]
                pred = top_rows[i][0]
                meta = ref.meta or {}
                rows.append({
                    "clip": ref.name, "label": label, "pred": pred, "correct": pred == label,
                    "confidence": prob_rows[i][pred], "prob_true": prob_rows[i][label],
                    "top5": top_rows[i], "probs": prob_rows[i],
                    "subject": _meta(meta, "subject"), "view": _meta(meta, "camera", "view"),
                    "setup": _meta(meta, "setup"), "repetition": _meta(meta, "repetition"),
                    **{key: v[i] for key, v in stream_rows.items()},
                    **extra[i],
                })  # fmt: skip
    if capture:
        return rows, {n: torch.cat(v) for n, v in captured.items()}
    return rows


# ---------------------------------------------------------------------------------------------
# does the prediction need its attention?


def partners(labels: np.ndarray, groups: np.ndarray, *, same: bool, seed: int = 0) -> np.ndarray:
    """For each clip, another clip whose attention it borrows: same class (another subject where
    one exists) or another class. Deterministic for ``seed``."""
    rng = np.random.default_rng(seed)
    n = len(labels)
    out = np.empty(n, dtype=np.int64)
    idx = np.arange(n)
    for i in range(n):
        if same:
            pool = idx[(labels == labels[i]) & (groups != groups[i])]
            if not len(pool):
                pool = idx[(labels == labels[i]) & (idx != i)]
        else:
            pool = idx[labels != labels[i]]
        out[i] = rng.choice(pool) if len(pool) else i
    return out


def truth_attention(
    model,
    captured: dict[str, torch.Tensor],
    table: pd.DataFrame,
    part_names: list[str],
    true_maps: np.ndarray | None = None,
) -> dict[str, torch.Tensor]:
    """The ground-truth attention at the model's resolution, shaped like ``captured`` (clips in
    the table's order), for each steerable kind that has one: the same weights the class-code
    check reads for the truth (:func:`class_code_check`).

    ``temporal``, ``segments:G`` and ``parts``: :func:`core_models.models.output.true_attention`
    of the table's truth (what a model configured with ``true_attention`` pools with), each unit
    then weighted by the model's ``attention_fields`` where it declares them (a segment that has
    read segments 1..k); ``spatial``: ``true_maps`` (:func:`spatial_truth_features`), when
    given. Kinds without a ground truth (granularity weights, glimpses, a transformer's grid,
    self-attention, non-local affinities) are left out, so an intervention with these weights
    keeps the model's own there. Empty when the clips carry no ground truth.
    """
    from core_models.data.layouts import NTU25  # the layout of the synthetic clips' truth
    from core_models.models.output import true_attention

    if "truth_interval" not in table or not table["truth_interval"].notna().all():
        return {}
    acting = [set(tp) for tp in table["truth_parts"]]
    truth = {
        "truth_interval": torch.tensor(np.stack(table["truth_interval"].to_numpy()), dtype=torch.float32),
        "truth_parts": torch.tensor([[p in a for p in NTU25.part_names] for a in acting]),
    }  # fmt: skip
    out: dict[str, torch.Tensor] = {}
    for name, like in captured.items():
        kind = name.split(":", 1)[0]
        if kind == "spatial":
            if true_maps is not None:
                out[name] = torch.as_tensor(true_maps.reshape(like.shape), dtype=like.dtype)
            continue
        if kind == "parts" and like.shape[-1] != len(part_names):
            continue
        w = true_attention(truth, name, like, part_names)
        fields = _fields(model, kind, like.shape[-1]) if kind in ("temporal", "segments") else None
        if w is not None and fields is not None:  # by what each unit has read of the truth
            w = w @ torch.as_tensor(scores.unit_fields(like.shape[-1], fields), dtype=w.dtype).T
            w = w / w.sum(1, keepdim=True).clamp_min(1e-12)
        if w is not None:
            out[name] = w
    return out


def intervene(model, dataset, captured: dict[str, torch.Tensor], *, batch_size: int, device,
              progress: bool = True, workers: int = 0, truth: dict[str, torch.Tensor] | None = None,
              per_clip: dict[str, np.ndarray] | None = None) -> dict[str, Any]:  # fmt: skip
    """Accuracy with the attention replaced: uniform, borrowed from another clip, and the truth.

    Passes: ``uniform`` (every steerable attention uniform), ``uniform:<name>`` (one at a time,
    when the model has several), ``swap_same`` (each clip gets the attention of a clip of its
    own class, another subject's where possible), ``swap_other`` (of a clip of another class),
    and with ``truth`` (:func:`truth_attention`, not empty) ``truth``: the ground-truth attention
    at the model's resolution where a kind has one, the model's own elsewhere (what the model
    scores when its attention lands where the evidence is; ``kinds`` names the kinds replaced),
    and ``truth:<name>`` (one kind at a time, when several have a ground truth).
    Each pass reports the fused ``top1`` and, for fused models, ``rgb_top1`` (the attended RGB
    stream alone). Nothing about the clips or the weights changes but the attention. ``per_clip``
    (a dict, filled in place): each clip's predicted class under the ``uniform`` and ``truth``
    passes, in the dataset's order.
    """
    from torch.utils.data import DataLoader
    from tqdm import tqdm

    from core_models.models.output import reuse_keys, steer_key, uniform_attention

    names = list(captured)
    labels = np.asarray(dataset.labels)
    groups = np.array([str((r.meta or {}).get("subject", i)) for i, r in enumerate(dataset.refs)])
    uniform = {n: uniform_attention(n, captured[n]) for n in names}
    plans: dict[str, dict[str, torch.Tensor]] = {"uniform": uniform}
    if len(names) > 1:
        for n in names:
            plans[f"uniform:{n}"] = {n: uniform[n]}
    for key, same in (("swap_same", True), ("swap_other", False)):
        order = torch.from_numpy(partners(labels, groups, same=same))
        plans[key] = {n: captured[n][order] for n in names}
    if truth:
        plans["truth"] = dict(truth)
        if len(truth) > 1:
            for n, t in truth.items():
                plans[f"truth:{n}"] = {n: t}
    workers = loader_workers(workers, device)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers,
                        persistent_workers=workers > 0, collate_fn=collate_items)  # fmt: skip
    model.eval()
    results: dict[str, Any] = {}
    # The first pass keeps what no attention changes (ModelOutput.reusable: the trunk's maps), batch
    # by batch, within REUSE_MEMORY_MB; the passes after it hand those back and skip the trunk.
    kept: list[tuple[torch.Tensor, dict[str, torch.Tensor]]] = []
    kept_bytes, first = 0, True
    for plan, overrides in tqdm(plans.items(), desc="interventions", leave=False, disable=not progress):
        correct, rgb_correct, total, has_rgb = 0, 0, 0, False
        keep = per_clip is not None and plan in ("uniform", "truth")
        if keep:
            per_clip[plan] = np.full(len(dataset), -1, dtype=np.int64)
        with torch.no_grad():
            for b, batch in enumerate(loader):
                idx = batch["index"]
                if b < len(kept) and torch.equal(kept[b][0], idx):
                    batch.update(kept[b][1])
                batch = {k: v.to(device) for k, v in batch.items()}
                for n, t in overrides.items():
                    batch[steer_key(n)] = t[idx].to(device)
                out = model(batch)
                if first and b == len(kept) and getattr(out, "reusable", None):
                    kept_bytes += sum(v.numel() * v.element_size() for v in out.reusable.values())
                    if kept_bytes <= REUSE_MEMORY_MB * 2**20:  # copied off the device only when kept
                        kept.append((idx.clone(), reuse_keys(out, "cpu")))
                y = batch["label"]
                if keep:
                    per_clip[plan][idx.numpy()] = out.logits.argmax(1).cpu().numpy()
                correct += int((out.logits.argmax(1) == y).sum())
                if "rgb_logits" in out.aux:
                    has_rgb = True
                    rgb_correct += int((out.aux["rgb_logits"].argmax(1) == y).sum())
                total += len(y)
        first = False
        entry = {"top1": correct / max(total, 1)}
        if has_rgb:
            entry["rgb_top1"] = rgb_correct / max(total, 1)
        if plan == "truth":
            entry["kinds"] = sorted(overrides)
        results[plan] = entry
    return results


def spatial_truth_features(model, reader, refs, items, shape: tuple[int, ...]) -> np.ndarray | None:
    """(N, T' h w) per clip of ``refs``, the ground-truth spatial attention at the resolution of the
    model's maps (``attention_scores.spatial_truth_maps``), or None when the clips carry no
    per-frame ground truth (real datasets) or the model reads no frames.

    ``items``: the evaluation dataset over ``refs`` (its items say which frames the model read);
    ``shape``: one clip's captured maps, ``(T', h, w)`` or ``(h, w)``.
    """
    rows = []
    for i, ref in enumerate(refs):
        clip = reader.load(ref, with_video=False)  # the prepared items hold the frames already
        maps = spatial_truth_map(model, clip, items[i]["frame_index"].numpy(), shape)
        if maps is None:
            return None
        rows.append(maps.reshape(-1))
    return np.stack(rows) if rows else None


def spatial_truth_map(model, clip, frame_index: np.ndarray, shape: tuple[int, ...]) -> np.ndarray | None:
    """(T', h, w) one clip's ground-truth spatial attention at the resolution of the model's maps
    (``shape``: ``(T', h, w)`` or ``(h, w)``), ``frame_index`` the clip frames the model read; None
    without per-frame ground truth, 2D joints or a square the model reads."""
    from core_models.inspect import view_boxes_of

    shape = tuple(shape) if len(shape) == 3 else (1, *shape)
    boxes = view_boxes_of(model, clip)
    if clip.truth is None or clip.joints2d is None or boxes is None:
        return None
    joints = [clip.layout.part(n).joints for n in clip.truth.part_names]
    return scores.spatial_truth_maps(
        shape, boxes, frame_index, clip.joints2d[:, 0], clip.truth.parts, joints, clip.truth.interval
    )


def class_code_check(
    table: pd.DataFrame,
    captured: dict[str, torch.Tensor],
    part_names: list[str],
    spatial_truth: np.ndarray | None = None,
) -> dict[str, Any]:
    """How well the attention alone predicts the class, next to the ground-truth attention.

    Per steerable kind (and all together): cross-validated nearest-class-mean accuracy over
    subjects on the attention weights (``attention``) and, where the ground truth says where the
    evidence is (parts, temporal steps, segments, and spatial maps when ``spatial_truth`` holds
    the true maps of :func:`spatial_truth_features`), on the ground-truth attention at the same
    resolution (``truth``). ``all`` compares every kind together with every kind that has a
    truth; a kind without one (temporal granularity's granularity weights) adds nothing to the
    truth's side, as uniform weights would not. ``chance`` is one over the number of classes
    present.
    """
    labels = table["label"].to_numpy()
    groups = table["subject"].astype(str).to_numpy()
    out: dict[str, Any] = {"chance": 1.0 / max(len(np.unique(labels)), 1)}
    has_truth = "truth_interval" in table and table["truth_interval"].notna().all()
    feats_all, truth_all = [], []
    for name, t in captured.items():
        x = t.flatten(1).numpy()
        if name == "parts" and t.dim() == 3:  # per step: the mean over time, as the summaries
            x = t.mean(1).numpy()
        entry = {"attention": scores.class_predictability(x, labels, groups)}
        feats_all.append(x)
        if name == "spatial" and spatial_truth is not None:
            entry["truth"] = scores.class_predictability(spatial_truth, labels, groups)
            truth_all.append(spatial_truth)
        elif has_truth and (name in ("parts", "temporal") or name.startswith("segments:")):
            intervals = np.stack(table["truth_interval"].to_numpy())
            if name == "parts":
                tx = scores.truth_attention_features(table["truth_parts"], intervals, part_names=part_names)
            else:
                steps = x.shape[1]
                tx = scores.truth_attention_features(table["truth_parts"], intervals, steps=steps)
            entry["truth"] = scores.class_predictability(tx, labels, groups)
            truth_all.append(tx)
        out[name] = entry
    if len(feats_all) > 1:
        out["all"] = {"attention": scores.class_predictability(np.concatenate(feats_all, 1), labels, groups)}
        if truth_all:
            out["all"]["truth"] = scores.class_predictability(np.concatenate(truth_all, 1), labels, groups)
    return out


def _meta(meta: dict, *keys: str):
    for k in keys:
        if k in meta and meta[k] is not None:
            return str(meta[k])
    return None


def build_table(rows: list[dict], class_names: list[str]) -> pd.DataFrame:
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    table.insert(2, "label_name", [class_names[i] for i in table["label"]])
    table.insert(4, "pred_name", [class_names[i] for i in table["pred"]])
    return table.sort_values("clip").reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# metrics


def compute_metrics(
    table: pd.DataFrame, class_names: list[str], *, opposite_pairs=(), part_names: list[str] | None = None
) -> dict[str, Any]:
    K = len(class_names)
    labels = table["label"].to_numpy()
    preds = table["pred"].to_numpy()
    conf = np.zeros((K, K), dtype=np.int64)
    np.add.at(conf, (labels, preds), 1)
    per_class = {}
    for k, name in enumerate(class_names):
        n = conf[k].sum()
        if n:
            per_class[name] = float(conf[k, k] / n)
    top5 = np.mean([lab in t for lab, t in zip(labels, table["top5"], strict=True)])
    m: dict[str, Any] = {
        "clips": len(table),
        "top1": float(np.mean(labels == preds)),
        "top5": float(top5),
        "mean_class_accuracy": float(np.mean(list(per_class.values()))) if per_class else 0.0,
        "per_class": per_class,
        "class_names": list(class_names),
        "confusion": conf.tolist(),
    }
    for col, key in (("view", "per_view"), ("subject", "per_subject")):
        if col in table and table[col].notna().any():
            m[key] = {str(v): float(g["correct"].mean()) for v, g in table.groupby(col, sort=True)}
    if opposite_pairs:
        m.update(_pair_metrics(table, class_names, opposite_pairs))
    streams = {c.removeprefix("pred_"): float((table[c] == table["label"]).mean())
               for c in (f"pred_{k.removesuffix('_logits')}" for k in STREAM_KEYS)
               if c in table and table[c].notna().all()}  # fmt: skip
    if streams:
        m["streams"] = streams
    parts_alone = _part_streams(table)
    if parts_alone:
        m["part_streams"] = parts_alone
    if part_names is not None and any(c.endswith("_truth_share") for c in table.columns):
        m["attention_scores"] = scores.summarise(table, part_names)
    truth = {}
    for col in ("parts_truth_share", "temporal_truth_share", "segments_truth_share", "glimpses_truth_share",
                "interval_fraction"):  # fmt: skip
        if col in table and table[col].notna().any():
            truth[col] = float(table[col].mean())
    if "parts_truth_share" in table and "truth_parts" in table:
        hand = table["truth_parts"].map(lambda ps: bool(len(ps)) and set(ps) <= HAND_PARTS)
        if hand.any():
            truth["parts_truth_share_hand_actions"] = float(table.loc[hand, "parts_truth_share"].mean())
            truth["hand_action_clips"] = int(hand.sum())
    if truth:
        m["attention_vs_truth"] = truth
    return m


def _part_streams(table: pd.DataFrame) -> dict[str, Any]:
    """Top-1 of each body-part stream's own head (``pred_part_<name>``), and on one-hand clips
    of the stream of the hand that acts against the other hand's: whether the part streams carry
    anything an attention over them could choose."""
    cols = [c for c in table.columns if c.startswith("pred_part_") and table[c].notna().all()]
    out: dict[str, Any] = {
        c.removeprefix("pred_part_"): float((table[c] == table["label"]).mean()) for c in cols
    }
    if out and {"pred_part_left_hand", "pred_part_right_hand"} <= set(cols) and "acting_hand" in table:
        one = table[table["acting_hand"].isin(("left", "right"))]
        if len(one):
            left = one["acting_hand"] == "left"
            acting = np.where(left, one["pred_part_left_hand"], one["pred_part_right_hand"])
            idle = np.where(left, one["pred_part_right_hand"], one["pred_part_left_hand"])
            labels = one["label"].to_numpy()
            out["acting_hand"] = float(np.mean(acting == labels))
            out["idle_hand"] = float(np.mean(idle == labels))
            out["one_hand_clips"] = len(one)
    return out


def _pair_metrics(table: pd.DataFrame, class_names: list[str], pairs) -> dict[str, Any]:
    index = {n: i for i, n in enumerate(class_names)}
    partner = {}
    for a, b in pairs:
        if a in index and b in index:
            partner[index[a]] = index[b]
            partner[index[b]] = index[a]
    sel = table[table["label"].isin(list(partner))]
    if sel.empty:
        return {}
    two_way = [p[lab] > p[partner[lab]] for lab, p in zip(sel["label"], sel["probs"], strict=True)]
    return {
        "opposite_pairs_top1": float(sel["correct"].mean()),
        "opposite_pairs_two_way": float(np.mean(two_way)),
        "opposite_pairs_clips": len(sel),
    }


def opposite_pairs_for(data_kind: str) -> list[tuple[str, str]]:
    if data_kind != "synth":
        return []
    from core_models.synth import OPPOSITE_PAIRS
    from core_models.synth.generate import CLASSES_120

    return [(CLASSES_120[a - 1], CLASSES_120[b - 1]) for a, b in OPPOSITE_PAIRS]


# ---------------------------------------------------------------------------------------------
# entry points


def evaluate_checkpoint(
    checkpoint: str | Path,
    out_dir: str | Path,
    *,
    split: str = "test",
    root: str | None = None,
    data: str | None = None,
    protocol: str | None = None,
    clips: list[str] | None = None,
    batch_size: int = 16,
    cache_dir: str | None = ".cache/prepared",
    device=None,
    dist=None,
    progress: bool = True,
    interventions: bool = True,
    workers: int = 1,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Evaluate a checkpoint file on a split of its data (or of ``data``/``root``/``protocol``).

    ``clips`` restricts the split to those clip names. Results go to ``out_dir/eval/<split>``.
    ``interventions``: for models whose attention can be steered, also measure how the accuracy
    changes with uniform and borrowed attention, and how well the attention predicts the class
    (``metrics["attention_checks"]``; about five more passes over the split: uniform, borrowed
    and the ground-truth attention, the passes after the first handed the trunk's maps it kept,
    ``ModelOutput.reusable``).
    Under ``torchrun`` each process takes every ``world``-th clip and rank 0 writes the union.
    ``workers`` data-loading processes prepare the next batches while the model runs.
    """
    from core_models.data import open_reader
    from core_models.data.datasets import ClipDataset

    if dist is None or dist.rank == 0:
        results.check_writable(results.eval_dir(out_dir, split))  # before any clip is read or run
    ck = load_checkpoint(checkpoint)
    model = build_from_checkpoint(ck, checkpoint)
    info = ck.get("data", {})
    data = data or info.get("kind", "synth")
    root = root or info.get("root")
    protocol = protocol or info.get("protocol", "cs")
    if root is None or not Path(root).is_dir():
        hint = f" (make it with `python -m core_models synth --out {root}`)" if data == "synth" else ""
        raise SystemExit(f"the {data} data of this checkpoint is not at {root}{hint}; pass --root DIR")
    reader = open_reader(data, root)
    names = list(reader.classes_for(protocol))
    saved = ck.get("class_names")
    if saved and list(saved) != names:
        raise CheckpointError(
            checkpoint, f"was trained on {len(saved)} classes ({', '.join(saved[:3])}, ...) but {data} "
            f"{protocol} under {root} has {len(names)} ({', '.join(names[:3])}, ...)",
            "the class list the checkpoint was trained with",
        )  # fmt: skip
    refs = reader.split(protocol, split)
    if clips is not None:
        wanted = set(clips)
        refs = [r for r in refs if r.name in wanted]
    if not refs:
        raise SystemExit(
            f"no {split} clips of {data} {protocol} under {root}" + (" match --clips" if clips else "")
        )
    rank, world = (dist.rank, dist.world) if dist is not None else (0, 1)
    device = device or torch.device("cpu")
    model = model.to(device)
    # Several passes (the interventions) read every clip again: keep them in this process,
    # decompressed while EVAL_MEMORY_MB has room, unless loader processes read them.
    steerable = interventions and bool(getattr(model, "steerable", ()))
    memo = steerable and (cache_dir is None or loader_workers(workers, device) == 0)
    workers = 0 if memo else workers  # (clips kept by a worker process would die with it)
    budget = None if cache_dir is None else EVAL_MEMORY_MB * 2**20
    reads = tuple(getattr(model, "inputs", ())) or None
    ds = ClipDataset(
        reader, refs[rank::world], model.input_spec, train=False, cache_dir=cache_dir, protocol=protocol,
        keep_in_memory=memo, memory_budget=budget, reads=reads,
    )  # fmt: skip
    t0 = time.perf_counter()
    out = predict_rows(
        model, ds, batch_size=batch_size, device=device, progress=progress and rank == 0, capture=steerable,
        workers=workers,
    )  # fmt: skip
    rows, captured = out if steerable else (out, {})
    seconds = time.perf_counter() - t0
    if world > 1:
        import torch.distributed as tdist

        gathered: list = [None] * world
        tdist.all_gather_object(gathered, (rows, captured))
        rows = [r for part, _ in gathered for r in part]
        # Shard k holds global clips k, k + world, ...: put the captured attention back in order.
        captured = {
            n: torch.stack([gathered[i % world][1][n][i // world] for i in range(len(refs))])
            for n in captured
        }
    if rank != 0:
        return pd.DataFrame(), {}
    table = build_table(rows, names)
    part_names = list(getattr(model.config, "parts", ()) or ())
    metrics = compute_metrics(table, names, opposite_pairs=opposite_pairs_for(data), part_names=part_names)
    if steerable:
        full = ds if world == 1 else ClipDataset(
            reader, refs, model.input_spec, train=False, cache_dir=cache_dir, protocol=protocol,
            keep_in_memory=memo, memory_budget=budget, reads=reads,
        )  # fmt: skip
        ordered = pd.DataFrame(rows).set_index("clip").loc[[r.name for r in refs]].reset_index()
        has_truth = "truth_interval" in ordered and ordered["truth_interval"].notna().all()
        true_maps = (
            spatial_truth_features(model, reader, refs, full, captured["spatial"].shape[1:])
            if "spatial" in captured and has_truth else None
        )  # fmt: skip
        truth = truth_attention(model, captured, ordered, part_names, true_maps)
        per_clip: dict[str, np.ndarray] = {}
        metrics["attention_checks"] = {
            "interventions": intervene(model, full, captured, batch_size=batch_size, device=device,
                                       progress=progress, workers=workers, truth=truth, per_clip=per_clip),
            "class_code": class_code_check(ordered, captured, part_names, true_maps),
        }  # fmt: skip
        for plan, preds in per_clip.items():  # each clip's prediction with equal weights, with the truth
            table[f"{plan}_pred"] = table["clip"].map(
                dict(zip([r.name for r in refs], preds.tolist(), strict=True))
            )
    metrics.update(
        split=split, data=data, protocol=protocol, root=str(root), checkpoint=str(checkpoint),
        model=ck["model"], preset=ck["preset"], seconds=round(seconds, 2), part_names=part_names,
        data_version=ck.get("data", {}).get("version", 1),
    )  # fmt: skip
    results.write_eval(out_dir, split, table, metrics)
    return table, metrics


def evaluate_run(run_dir: str | Path, *, split: str = "test", checkpoint: str | None = None, dist=None,
                 device=None, **kw) -> tuple[pd.DataFrame, dict[str, Any]]:  # fmt: skip
    """Evaluate a run's ``model.pt`` (or ``checkpoint``) into ``run_dir/eval/<split>``."""
    run_dir = Path(run_dir)
    ck = Path(checkpoint) if checkpoint else run_dir / "model.pt"
    if not ck.exists():
        raise SystemExit(
            f"{run_dir}: no {ck.name}; the run has not finished training (see {run_dir}/status.json)"
        )
    settings = {}
    if (run_dir / "settings.json").is_file():
        try:
            settings = json.loads((run_dir / "settings.json").read_text())
        except (OSError, ValueError, RecursionError) as e:
            raise SystemExit(f"{run_dir / 'settings.json'}: not a readable settings file ({e})") from None
        if not isinstance(settings, dict):
            raise SystemExit(f"{run_dir / 'settings.json'}: not a JSON object")
    kw.setdefault("cache_dir", settings.get("cache_dir", ".cache/prepared") or None)
    return evaluate_checkpoint(ck, run_dir, split=split, dist=dist, device=device, **kw)
