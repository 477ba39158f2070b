"""Attention scores that say what they are compared with, and checks that attention does the work.

A share of attention on the ground truth means nothing alone: 0.6 of the weight on the right
frames is good if uniform weights get 0.2 and poor if "always the middle" gets 0.7. So every
share is written next to its baselines, per clip:

* ``uniform``: what equal weights over the model's units (parts, steps, segments) get;
* ``best``: the most any weighting can get at the model's resolution (all the weight on the single
  unit whose field lies most inside the truth): a model with 2 steps cannot place attention
  finer than half a clip;
* ``middle``: "always the middle" (all the weight on the middle unit, split between the two middle
  ones when their number is even), the prior a temporal attention must beat on data whose
  discriminative moment is often near the middle.

A unit's *field* is the part of the clip its feature summarises (:func:`unit_fields`): by default
the unit's own equal share of the clip, but a model may say otherwise (the temporal-granularity
model weights segment features after a recurrent pass, so its k-th segment feature summarises
segments 1..k; see ``attention_fields`` on the model).

Whether a prediction *needs* its attention is answered by interventions (``evaluate`` runs them):
the accuracy with the attention replaced by uniform weights, by another clip's attention of
the same or of another class, and by the ground-truth attention at the model's resolution (what
the model would score if its attention landed on the evidence); and whether the attention is a
*class code* rather than a place, by how well the attention weights alone predict the class
(:func:`class_predictability`, a nearest-class-mean classifier cross-validated over subjects) next
to how well the ground-truth attention at the same resolution would.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

HANDS = ("left_hand", "right_hand")


# ---------------------------------------------------------------------------------------------
# temporal units and their fields


def bin_coverage(n: int, interval: tuple[float, float]) -> np.ndarray:
    """(n,) fraction of each of ``n`` equal consecutive bins of the clip inside ``interval``.

    ``interval`` is ``(start, end)`` as fractions of the clip.
    """
    s, e = interval
    edges = np.arange(n + 1) / n
    return np.clip(np.minimum(edges[1:], e) - np.maximum(edges[:-1], s), 0, None) * n


def unit_fields(n: int, fields: np.ndarray | None = None) -> np.ndarray:
    """(n, n) row-stochastic matrix: how much of unit k's field falls in each of n equal bins.

    ``fields`` None: unit k summarises bin k alone (the identity).
    """
    if fields is None:
        return np.eye(n)
    f = np.asarray(fields, dtype=float)
    if f.shape != (n, n) or (f < 0).any():
        raise ValueError(f"fields must be a non-negative ({n}, {n}) matrix, got {f.shape}")
    return f / np.maximum(f.sum(1, keepdims=True), 1e-12)


def cumulative_fields(n: int) -> np.ndarray:
    """Fields of features after a forward recurrent pass: unit k summarises bins 0..k equally."""
    return np.tril(np.ones((n, n)))


def middle_weights(n: int) -> np.ndarray:
    """(n,) "always the middle": all weight on the middle unit (the two middle ones when n is even)."""
    w = np.zeros(n)
    if n % 2:
        w[n // 2] = 1.0
    else:
        w[n // 2 - 1 : n // 2 + 1] = 0.5
    return w


def temporal_scores(
    weights: np.ndarray, interval: tuple[float, float], fields: np.ndarray | None = None
) -> dict[str, float]:
    """Share of temporal weights (n,) on the truth interval, with its baselines.

    Each unit is scored by the fraction of its field inside the interval (its *truth coverage*);
    the share is the weighted sum of coverages.

    Returns:
        ``share``, ``uniform``, ``best``, ``middle`` (all in [0, 1]).
    """
    w = np.asarray(weights, dtype=float)
    n = len(w)
    cover = unit_fields(n, fields) @ bin_coverage(n, interval)  # (n,)
    return {
        "share": float(w @ cover),
        "uniform": float(cover.mean()),
        "best": float(cover.max()),
        "middle": float(middle_weights(n) @ cover),
    }


def segment_scores(
    segments: dict[int, np.ndarray], interval: tuple[float, float], fields=None
) -> tuple[dict[int, dict[str, float]], dict[str, float] | None]:
    """Temporal granularity's segment weights against the truth interval: :func:`temporal_scores`
    of each granularity G > 1 (G = 1 has one segment, always the whole clip), and their mean
    (None without one).

    Args:
        segments: {G: (G,) weights}.
        interval: the truth interval as fractions of the clip.
        fields: the model's ``attention_fields(kind, n)`` (what each segment's feature covers), or
            None for equal bins.
    """
    per_g = {
        int(g): temporal_scores(w, interval, fields("segments", int(g)) if fields is not None else None)
        for g, w in sorted(segments.items())
        if int(g) > 1
    }
    if not per_g:
        return per_g, None
    first = next(iter(per_g.values()))
    return per_g, {k: float(np.mean([sc[k] for sc in per_g.values()])) for k in first}


# ---------------------------------------------------------------------------------------------
# the baselines' own attention: self-attention's matrices, the spatial transformer's grids


def received_weights(weights: np.ndarray) -> np.ndarray:
    """(T,) the weight each time step receives: (heads, T, T) rows that sum to one, averaged
    over heads and query steps, so the result sums to one as well."""
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim == 2:
        w = w[None]
    if w.ndim != 3 or w.shape[1] != w.shape[2]:
        raise ValueError(f"self-attention weights must be (heads, T, T), got {w.shape}")
    return w.mean(axis=(0, 1))


def received_scores(matrices: np.ndarray, intervals: np.ndarray) -> dict[str, float]:
    """Self-attention scored like a temporal attention, over clips.

    Each clip's (T, T) attention matrix (rows = reading steps, summing to one; heads already
    averaged) gives the weight each step *receives*, the mean of its column: how much of the pooled
    output the step's value makes through that block. That (T,) distribution is scored against the
    clip's truth interval by :func:`temporal_scores` (each step the field of an equal bin).

    Args:
        matrices: (N, T, T).
        intervals: (N, 2) truth intervals as fractions of the clip.

    Returns:
        The means over clips of ``share``, ``uniform``, ``best`` and ``middle``, and ``clips``.
    """
    m = np.asarray(matrices, dtype=float)
    if m.ndim != 3 or m.shape[1] != m.shape[2] or len(m) != len(intervals):
        raise ValueError(
            f"need (N, T, T) matrices and (N, 2) intervals, got {m.shape}, {np.shape(intervals)}"
        )
    rows = [
        temporal_scores(received_weights(w), (float(a), float(b)))
        for w, (a, b) in zip(m, intervals, strict=True)
    ]
    out = {k: float(np.mean([r[k] for r in rows])) for k in ("share", "uniform", "best", "middle")}
    out["clips"] = len(rows)
    return out


def grid_box(grid: np.ndarray) -> list[float]:
    """``x_min, x_max, y_min, y_max`` of the points a spatial transformer's grid (H', W', 2) reads,
    in the input's [-1, 1] coordinates (``align_corners=False``: the output pixels' centres)."""
    g = np.asarray(grid, dtype=float)
    if g.ndim < 3 or g.shape[-1] != 2:
        raise ValueError(f"grid must be (..., H', W', 2), got {g.shape}")
    return [float(g[..., 0].min()), float(g[..., 0].max()), float(g[..., 1].min()), float(g[..., 1].max())]


def warp_boxes(boxes: np.ndarray, size: int | None = None) -> dict[str, Any]:
    """What a spatial transformer's warps read, and how much that moves between clips.

    Args:
        boxes: (N, 4) per clip :func:`grid_box` of its grid (``evaluate``'s ``grid_box``): the
            extent ``x_min, x_max, y_min, y_max`` of the points read, in [-1, 1] input coordinates.
        size: the side of the warp's output, when known. The points are the output pixels'
            centres, so each extent then grows by ``size / (size - 1)`` to their outer edges (the
            identity grid then covers the input exactly) and is capped at the input's side (a
            point past the edge reads the border pixel). Without it the extents are taken as
            they are.

    Returns:
        ``clips``; ``mean`` and ``spread`` (standard deviation over the clips) of the four
        extents; ``area``: the mean area read as a fraction of the input (1 for the identity);
        ``centre``: the mean distance of the box's centre from the input's centre, in half-sides;
        ``edge_sd``: the largest spread of one extent (0 when every clip gets the same warp).
    """
    b = np.asarray(boxes, dtype=float)
    if b.ndim != 2 or b.shape[1] != 4 or not len(b):
        raise ValueError(f"boxes must be a non-empty (N, 4) array: x_min, x_max, y_min, y_max; got {b.shape}")
    if size is not None and size < 2:
        raise ValueError(f"size must be at least 2 output pixels, got {size}")
    grow = size / (size - 1) if size else 1.0
    w = np.minimum((b[:, 1] - b[:, 0]) * grow, 2.0)
    h = np.minimum((b[:, 3] - b[:, 2]) * grow, 2.0)
    centres = np.stack([(b[:, 0] + b[:, 1]) / 2, (b[:, 2] + b[:, 3]) / 2], axis=1)
    spread = b.std(0)
    return {"clips": len(b), "mean": b.mean(0), "spread": spread, "area": float((w * h / 4.0).mean()),
            "centre": float(np.hypot(*centres.T).mean()), "edge_sd": float(spread.max())}  # fmt: skip


# ---------------------------------------------------------------------------------------------
# body parts


def part_scores(
    weights: np.ndarray,
    part_names: Sequence[str],
    truth_parts: Sequence[str],
    *,
    acting_hand: str | None = None,
) -> dict[str, float]:
    """Share of part weights (P,) on the parts that carry the action, with its baselines.

    Args:
        weights: (P,) in ``part_names`` order (mean over time for per-step attention).
        part_names: the model's parts.
        truth_parts: the parts that carry the action (any layout names; those the model lacks
            cannot be attended).
        acting_hand: the hand of a one-hand action (``"left"`` / ``"right"``), else ``None``.

    Returns:
        ``share``, ``uniform`` (the fraction of the model's parts that are true), ``best``
        (1 when the model has a true part, else 0), and for one-hand actions when the model has
        both hands, ``acting_margin``: weight on the acting hand minus weight on the other hand.
    """
    w = np.asarray(weights, dtype=float)
    names = list(part_names)
    true = np.array([n in set(truth_parts) for n in names])
    out = {
        "share": float(w[true].sum()),
        "uniform": float(true.mean()) if len(names) else float("nan"),
        "best": float(true.any()),
    }
    if acting_hand in ("left", "right") and all(h in names for h in HANDS):
        act = names.index(f"{acting_hand}_hand")
        other = names.index("right_hand" if acting_hand == "left" else "left_hand")
        out["acting_margin"] = float(w[act] - w[other])
    return out


# ---------------------------------------------------------------------------------------------
# spatial maps on the body parts

SPATIAL_PART_JOINTS = 4  # parts of at most this many joints are places (hands, head, legs)


def centre_weights(h: int, w: int) -> np.ndarray:
    """(h, w) "always the centre": the 2D analogue of :func:`middle_weights`."""
    return np.outer(middle_weights(h), middle_weights(w))


def _compact(part_joints: Sequence[Sequence[int]]) -> list[int]:
    return [p for p, js in enumerate(part_joints) if len(js) <= SPATIAL_PART_JOINTS]


def _true_cells(
    f: int,
    size: tuple[int, int],
    view_boxes: np.ndarray,
    joints2d: np.ndarray,
    truth_parts: np.ndarray,
    compact: Sequence[int],
    part_joints: Sequence[Sequence[int]],
) -> np.ndarray | None:
    """bool (h, w): the cells of a map laid over frame ``f``'s input square that hold a joint of a
    compact part carrying the action there; None when no such joint is inside the square."""
    h, w = size
    joints = sorted({j for p in compact if truth_parts[f, p] for j in part_joints[p]})
    x0, y0, x1, y1 = (float(v) for v in view_boxes[f])
    if not joints or not x1 > x0 or not y1 > y0:
        return None
    pts = joints2d[f, joints]
    pts = pts[np.isfinite(pts).all(axis=1)]
    u, v = (pts[:, 0] - x0) / (x1 - x0), (pts[:, 1] - y0) / (y1 - y0)
    inside = (u >= 0) & (u < 1) & (v >= 0) & (v < 1)
    if not inside.any():
        return None
    true = np.zeros((h, w), bool)
    true[(v[inside] * h).astype(int), (u[inside] * w).astype(int)] = True
    return true


def spatial_part_scores(
    spatial: np.ndarray,
    view_boxes: np.ndarray,
    frame_index: np.ndarray,
    joints2d: np.ndarray,
    truth_parts: np.ndarray,
    part_joints: Sequence[Sequence[int]],
    interval: tuple[int, int],
) -> dict[str, float] | None:
    """Share of a spatial map on the cells that hold the body parts carrying the action.

    For each RGB sample inside the truth interval, the cells of the map (laid over the square the
    model read in that frame, ``view_boxes``) that contain a joint of a part carrying the action in
    that frame are the true cells; the map of the feature step the sample falls in is scored on
    them. Only compact parts count (at most :data:`SPATIAL_PART_JOINTS` joints: hands, head,
    legs); a clip whose action is carried by spanning parts alone (the upper or the whole body)
    has no place to find and returns None.

    Args:
        spatial: (T', h, w) one map per feature step, or (h, w) one for the clip; each sums to 1.
        view_boxes: (T, 4) per clip frame, the pixel box ``x0, y0, x1, y1`` of the input square.
        frame_index: (N,) the clip frame of each RGB sample; step s covers samples
            ``[s N / T', (s + 1) N / T')``.
        joints2d: (T, J, 2) pixel coordinates of the person; NaN where missing.
        truth_parts: bool (T, P): part p carries the action at frame t.
        part_joints: the joints of each of the P parts.
        interval: ``[start, end)`` frames of the truth interval.

    Returns:
        ``share`` (mean over the scored samples of the map's weight on the true cells),
        ``uniform`` (equal weights: the true cells' fraction of the map), ``centre`` (all the
        weight on the map's centre cells), ``best`` (1: a map can put all its weight on a true
        cell) and ``samples``; None when no sample has a true cell inside the square.
    """
    maps = np.asarray(spatial, dtype=float)
    if maps.ndim == 2:
        maps = maps[None]
    if maps.ndim != 3:
        raise ValueError(f"spatial must be (T', h, w) or (h, w), got {np.shape(spatial)}")
    steps, h, w = maps.shape
    frames = np.asarray(frame_index, dtype=int)
    compact = _compact(part_joints)
    centre = centre_weights(h, w)
    share, uniform, prior = [], [], []
    start, end = interval
    for k, f in enumerate(frames):
        if not start <= f < end:
            continue
        true = _true_cells(f, (h, w), view_boxes, joints2d, truth_parts, compact, part_joints)
        if true is None:
            continue
        m = maps[min(k * steps // len(frames), steps - 1)]
        share.append(float(m[true].sum()))
        uniform.append(float(true.mean()))
        prior.append(float(centre[true].sum()))
    if not share:
        return None
    return {
        "share": float(np.mean(share)),
        "uniform": float(np.mean(uniform)),
        "centre": float(np.mean(prior)),
        "best": 1.0,
        "samples": float(len(share)),
    }


def spatial_truth_maps(
    shape: tuple[int, int, int],
    view_boxes: np.ndarray,
    frame_index: np.ndarray,
    joints2d: np.ndarray,
    truth_parts: np.ndarray,
    part_joints: Sequence[Sequence[int]],
    interval: tuple[int, int],
) -> np.ndarray:
    """(T', h, w) the ground-truth spatial attention at a map's resolution, as
    :func:`class_predictability` reads it beside the model's maps.

    The true cells are those :func:`spatial_part_scores` scores a map on. Each feature step's map
    spreads its weight over the true cells of the step's RGB samples inside the truth interval, a
    cell by how many of those samples it holds a true joint in; a step with none (outside the
    interval, or an action carried by spanning parts alone) is uniform, as the ground truth says
    nothing about where to look there. Arguments as :func:`spatial_part_scores`; ``shape`` is
    ``(T', h, w)`` of the model's maps.
    """
    steps, h, w = shape
    frames = np.asarray(frame_index, dtype=int)
    compact = _compact(part_joints)
    counts = np.zeros((steps, h, w))
    start, end = interval
    for k, f in enumerate(frames):
        if start <= f < end:
            true = _true_cells(f, (h, w), view_boxes, joints2d, truth_parts, compact, part_joints)
            if true is not None:
                counts[min(k * steps // len(frames), steps - 1)] += true
    totals = counts.sum(axis=(1, 2), keepdims=True)
    return np.where(totals > 0, counts / np.maximum(totals, 1e-12), 1.0 / (h * w))


# ---------------------------------------------------------------------------------------------
# glimpses on the person

PERSON_MARGIN = 0.1  # the person's box grows by this share of its height on every side


def person_boxes(joints2d: np.ndarray, person: int = 0, margin: float = PERSON_MARGIN) -> np.ndarray:
    """Per frame, the box around one person's visible 2D joints, grown by ``margin`` x its height.

    Joints are centres of body parts (the head joint is not the top of the head), hence the margin.

    Args:
        joints2d: (T, M, J, 2) in [-1, 1] (x right, y down), NaN where missing.

    Returns:
        (T, 4) ``x0, y0, x1, y1`` clipped to [-1, 1]; NaN rows where the person has no joint.
    """
    j = np.asarray(joints2d, dtype=float)[:, person]  # (T, J, 2)
    seen = np.isfinite(j).all(axis=2, keepdims=True)  # (T, J, 1)
    lo = np.where(seen, j, np.inf).min(axis=1)  # (T, 2) x0, y0
    hi = np.where(seen, j, -np.inf).max(axis=1)  # x1, y1
    grow = margin * np.maximum(hi[:, 1] - lo[:, 1], hi[:, 0] - lo[:, 0])[:, None]
    out = np.clip(np.concatenate([lo - grow, hi + grow], axis=1), -1, 1)
    out[~seen.any(axis=(1, 2))] = np.nan
    return out


def glimpse_person_scores(glimpses: np.ndarray, joints2d: np.ndarray) -> dict[str, float] | None:
    """Share of glimpse area on the person's box (:func:`person_boxes`), with its baselines.

    A glimpse (x, y, sx, sy) covers ``[x - sx, x + sx] x [y - sy, y + sy]`` of the [-1, 1] frame
    (the affine grid of ``glimpse_clouds.sample_glimpse``), clipped to the frame.

    Args:
        glimpses: (T', N, 4) of one clip; ``joints2d``: (T, M, J, 2) of the same clip (T' steps
            are matched to frames by equal bins when T' != T).

    Returns:
        ``share`` (mean over frames and glimpses of the glimpse's area inside the box over its
        area), ``uniform`` (the box's share of the frame: a glimpse placed at random), ``best``
        (the most a glimpse of that size could have inside the box); None without a person.
    """
    g = np.asarray(glimpses, dtype=float)
    boxes = person_boxes(joints2d)
    steps = len(g)
    frame_of = np.minimum((np.arange(steps) + 0.5) * len(boxes) / steps, len(boxes) - 1).astype(int)
    box = boxes[frame_of][:, None, :]  # (T', 1, 4), against every glimpse of its step
    x, y, sx, sy = np.moveaxis(g, -1, 0)  # (T', N) each
    gx0, gx1 = np.clip(x - sx, -1, 1), np.clip(x + sx, -1, 1)
    gy0, gy1 = np.clip(y - sy, -1, 1), np.clip(y + sy, -1, 1)
    area = (gx1 - gx0) * (gy1 - gy0)
    with np.errstate(invalid="ignore", divide="ignore"):  # steps without a box, glimpses off the frame
        ix = np.clip(np.minimum(gx1, box[..., 2]) - np.maximum(gx0, box[..., 0]), 0, None)
        iy = np.clip(np.minimum(gy1, box[..., 3]) - np.maximum(gy0, box[..., 1]), 0, None)
        bw, bh = box[..., 2] - box[..., 0], box[..., 3] - box[..., 1]  # (T', 1)
        inside = ix * iy / area
        fits = np.minimum(2 * sx, bw) * np.minimum(2 * sy, bh) / (4 * sx * sy)
    ok = area > 0
    used = np.isfinite(box).all(axis=(1, 2)) & ok.any(axis=1)  # the steps that count
    share, best = inside.mean(axis=1), fits.mean(axis=1)  # each row as the mean of its glimpses
    for t in np.flatnonzero(used & ~ok.all(axis=1)):  # a glimpse off the frame: the others' mean
        share[t], best[t] = inside[t][ok[t]].mean(), fits[t][ok[t]].mean()
    share, best, uniform = share[used], best[used], (bw * bh / 4.0)[used, 0]
    if not used.any():
        return None
    return {"share": float(np.mean(share)), "uniform": float(np.mean(uniform)), "best": float(np.mean(best))}


# ---------------------------------------------------------------------------------------------
# attention as a class code


def class_predictability(
    features: np.ndarray, labels: np.ndarray, groups: np.ndarray, *, folds: int = 5
) -> float:
    """Cross-validated accuracy of a nearest-class-mean classifier on ``features``.

    Folds split by ``groups`` (subjects), so a clip is never predicted from its own subject's
    clips. Features are standardised on each training fold. High accuracy from attention
    weights alone, well above what the ground-truth attention at the same resolution allows, means
    the weights encode the class rather than where the evidence is.

    Args:
        features: (N, D).
        labels: (N,) class indices.
        groups: (N,) subject (or any grouping) of each clip.

    Returns:
        Accuracy over all clips, or NaN with fewer than two groups.
    """
    x = np.asarray(features, dtype=float)
    y, g = np.asarray(labels), np.asarray(groups)
    uniq = np.unique(g)
    if len(uniq) < 2 or x.ndim != 2:
        return float("nan")
    fold_of = {v: i % min(folds, len(uniq)) for i, v in enumerate(uniq)}
    fold = np.array([fold_of[v] for v in g])
    correct = 0
    for f in np.unique(fold):
        tr, te = fold != f, fold == f
        mu, sd = x[tr].mean(0), x[tr].std(0) + 1e-6
        xt, xe = (x[tr] - mu) / sd, (x[te] - mu) / sd
        classes = np.unique(y[tr])
        means = np.stack([xt[y[tr] == c].mean(0) for c in classes])  # (K', D)
        d = ((xe[:, None, :] - means[None]) ** 2).sum(-1)  # (n_te, K')
        correct += int((classes[d.argmin(1)] == y[te]).sum())
    return correct / len(y)


def truth_attention_features(
    truth_parts: Sequence[Sequence[str]],
    intervals: np.ndarray,
    *,
    part_names: Sequence[str] = (),
    steps: int = 0,
) -> np.ndarray:
    """(N, D) the ground-truth attention at a model's resolution, as :func:`class_predictability` reads.

    Parts: the indicator of true parts among ``part_names``, normalised to sum to 1 (uniform over
    the model's parts when none is true); steps: the truth coverage of ``steps`` equal bins,
    normalised likewise.
    """
    rows = []
    for tp, iv in zip(truth_parts, intervals, strict=True):
        r = []
        if part_names:
            ind = np.array([n in set(tp) for n in part_names], float)
            r.append(ind / ind.sum() if ind.sum() else np.full(len(part_names), 1 / len(part_names)))
        if steps:
            cov = bin_coverage(steps, tuple(iv))
            r.append(cov / cov.sum() if cov.sum() else np.full(steps, 1 / steps))
        rows.append(np.concatenate(r) if r else np.zeros(0))
    return np.stack(rows) if rows else np.zeros((0, 0))


def summarise(table, part_names: Sequence[str]) -> dict[str, Any]:
    """Means of the per-clip scores of an evaluation table, split the way a researcher asks.

    Returns a dict with, per kind present (``parts``, ``temporal``, ``segments_G``, ``glimpses``), the mean
    ``share``, ``uniform``, ``best``, ``middle`` and ``clips``; for parts also by the subject's
    dominant hand and, for one-hand actions, the mean acting-hand margin and how often the acting
    hand outweighs the other (``acting_wins``), and ``parts_informative``: the same means over
    the clips where part weights can miss, those whose truth holds some of the model's parts
    but not all. On the others any weights score what uniform ones do (all of them on true
    parts, or none: a model of two hands cannot attend to the legs of sitting down), so over
    all clips the share's room above uniform is set by the mix of clips, not by the attention.
    """
    out: dict[str, Any] = {}
    cols = [c for c in table.columns if c.endswith("_truth_share")]
    for col in cols:
        kind = col.removesuffix("_truth_share")
        sel = table[table[col].notna()]
        if sel.empty:
            continue
        entry = {"share": float(sel[col].mean()), "clips": int(len(sel))}
        for base in ("uniform", "best", "middle"):
            c = f"{kind}_{base}"
            if c in sel and sel[c].notna().any():
                entry[base] = float(sel[c].mean())
        out[kind] = entry
    if "parts_truth_share" in table and "dominant" in table:
        by_hand = {}
        for hand, g in table[table["parts_truth_share"].notna()].groupby("dominant"):
            if not hand:
                continue
            e = {"share": float(g["parts_truth_share"].mean()), "uniform": float(g["parts_uniform"].mean()),
                 "clips": int(len(g))}  # fmt: skip
            for h in HANDS:
                if f"part_{h}" in g:
                    e[h] = float(g[f"part_{h}"].mean())
            if "parts_acting_margin" in g and g["parts_acting_margin"].notna().any():
                m = g["parts_acting_margin"].dropna()
                e["acting_margin"] = float(m.mean())
                e["acting_wins"] = float((m > 0).mean())
                e["one_hand_clips"] = int(len(m))
            by_hand[str(hand)] = e
        if by_hand:
            out["parts_by_dominant_hand"] = by_hand
        if "parts_acting_margin" in table and table["parts_acting_margin"].notna().any():
            m = table["parts_acting_margin"].dropna()
            out["parts"]["acting_margin"] = float(m.mean())
            out["parts"]["acting_wins"] = float((m > 0).mean())
            out["parts"]["one_hand_clips"] = int(len(m))
    if {"parts_truth_share", "parts_uniform", "parts_best"} <= set(table.columns):
        sel = table[table["parts_truth_share"].notna() & (table["parts_uniform"] < table["parts_best"])]
        if not sel.empty:
            out["parts_informative"] = {
                "share": float(sel["parts_truth_share"].mean()),
                "uniform": float(sel["parts_uniform"].mean()),
                "best": float(sel["parts_best"].mean()),
                "clips": int(len(sel)),
            }
    return out
