"""What the baselines with an attention of their own look at, ready to draw or to say.

* The spatial transformer (``stn``) samples its input through one affine grid per clip
  (``attention["grid"]``, (S, S, 2) points of the input in [-1, 1], ``align_corners=False``):
  :func:`warp_outline` maps the grid's border into the clip's pixels through the model's view box
  and :func:`draw_warp` outlines it on the frames (how much of the input it reads, and how that
  moves between clips: ``core_models.attention_scores.warp_boxes``).
* Self-attention (``self_attention``) weighs its time steps against each other
  (``attention["self"]``, (heads, T, T) of the last block, rows sum to one): the weight each step
  receives (``core_models.attention_scores.received_weights``, scored against the truth interval
  like any temporal attention) is drawn as a temporal curve, and :func:`matrix_figure` draws the
  head-averaged matrix.
* I3D with non-local blocks (``i3d_nl``) gives every position of a block's map weights over all
  the block's (subsampled) positions (``attention["nonlocal"]``, ``{block: (N, M)}``); they span
  space and time at once and are not drawn: :func:`nonlocal_sentence` says what they are, and the
  page sets beside it what equal affinities score over the test split.

Pure: numpy, OpenCV and plotly; no streamlit.
"""

from __future__ import annotations

import cv2
import numpy as np
import plotly.graph_objects as go

from viz.charts import attention_matrix_figure

WARP_COLOUR = (0, 220, 255)  # RGB: the outline of what the warp reads (cyan, apart from the skeleton)
VIEW_COLOUR = (150, 150, 150)  # RGB: the box the model's input covers
FIXED_WARP = 0.05  # edges that move less than this (half-sides) over a split: one warp for all


def _check_grid(grid: np.ndarray) -> np.ndarray:
    g = np.asarray(grid, dtype=np.float64)
    if g.ndim != 3 or g.shape[-1] != 2 or min(g.shape[:2]) < 2:
        raise ValueError(f"grid must be (H', W', 2) points in [-1, 1] with H', W' >= 2, got {g.shape}")
    return g


def border(grid: np.ndarray) -> np.ndarray:
    """(N, 2) the grid's border points in order (top row, right column, bottom row back, left
    column up), in the grid's [-1, 1] coordinates; the pixel centres of the output's edge."""
    g = _check_grid(grid)
    return np.concatenate([g[0, :-1], g[:-1, -1], g[-1, :0:-1], g[:0:-1, 0]])


def warp_outline(grid: np.ndarray, box: np.ndarray) -> np.ndarray:
    """(N, 2) pixel points ``x, y`` of the clip frame around what the warp reads, through the view
    box ``x0, y0, x1, y1`` that the model's input covers (-1 and 1 are the box's edges).

    The grid's border runs through the centres of the output's edge pixels; it is widened by
    ``S / (S - 1)`` about the grid's centre to their outer edges (exact for an affine warp, so the
    identity outlines the view box itself) and kept inside the input, as the sampler reads the
    border pixel for any point beyond it."""
    g = _check_grid(grid)
    pts = border(g)
    centre = g.reshape(-1, 2).mean(axis=0)
    grow = np.array([g.shape[1] / (g.shape[1] - 1), g.shape[0] / (g.shape[0] - 1)])
    pts = np.clip(centre + (pts - centre) * grow, -1.0, 1.0)
    x0, y0, x1, y1 = np.asarray(box, dtype=np.float64)
    return np.stack([x0 + (pts[:, 0] + 1) / 2 * (x1 - x0), y0 + (pts[:, 1] + 1) / 2 * (y1 - y0)], axis=1)


def draw_warp(frames: np.ndarray, grid: np.ndarray, view_boxes: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """Frames with the view box (grey) and the part of it the warp reads (cyan) outlined.

    Args:
        frames: (T, H, W, 3) uint8, possibly enlarged by ``scale`` from the clip's frames.
        grid: (S, S, 2), one grid for the whole clip.
        view_boxes: (T, 4) per clip frame, the box of the model's input in the clip's pixels.
        scale: how much larger ``frames`` are than the clip's frames.
    """
    frames = np.asarray(frames)
    boxes = np.asarray(view_boxes, dtype=np.float64)
    if frames.ndim != 4 or boxes.shape != (len(frames), 4):
        raise ValueError(f"need frames (T, H, W, 3) and view_boxes (T, 4), got {frames.shape}, {boxes.shape}")
    out = frames.copy()
    thick = max(1, round(scale))
    for t in range(len(out)):
        x0, y0, x1, y1 = (boxes[t] * scale).round().astype(int)
        cv2.rectangle(out[t], (x0, y0), (x1 - 1, y1 - 1), VIEW_COLOUR, 1)
        poly = (warp_outline(grid, boxes[t]) * scale).round().astype(np.int32)
        cv2.polylines(out[t], [poly], True, WARP_COLOUR, thick)
    return out


def matrix_figure(weights: np.ndarray, frame_index: np.ndarray | None = None) -> go.Figure:
    """The head-averaged (T, T) self-attention matrix (:func:`viz.charts.attention_matrix_figure`):
    row = the step that reads, column = the step it reads from, each key's clip frame on hover."""
    w = np.asarray(weights, dtype=np.float64)
    return attention_matrix_figure(w.mean(axis=0) if w.ndim == 3 else w, unit="step", frames=frame_index)


def warp_sentence(here: dict, split: dict | None, person_crop: bool, metrics: dict | None = None) -> str:
    """What the spatial transformer reads on this clip (``here``, and over its test split,
    ``split``: ``core_models.attention_scores.warp_boxes``), beside the identity warp, and what
    the warp is worth to it over the test split when ``metrics`` (its ``evaluate`` figures) hold
    the interventions: top-1 with its own warp, the identity's and another clip's."""
    given = "the person crop" if person_crop else "the centred square"
    text = (
        f"**Where the spatial transformer reads.** The cyan outline is the part of its input (the "
        f"grey box, {given} it is given) that its warp samples, one warp for the whole clip. It reads "
        f"**{here['area']:.2f}** of the input's area (the identity warp, no attention: 1.00), its centre "
        f"{here['centre']:.2f} of a half-side from the input's centre (identity: 0.00)."
    )
    if split is not None:
        text += (
            f" Over its test split ({split['clips']} clips) its box covers {split['area']:.2f} of the "
            f"input on average and its edges move by {split['edge_sd']:.3f} of a half-side (standard "
            "deviation)"
        )
        fixed = split["edge_sd"] < FIXED_WARP
        text += ": one crop for every clip, a fixed trim, not a look at this clip's action." if fixed else "."
    inter = ((metrics or {}).get("attention_checks") or {}).get("interventions") or {}
    if "uniform" not in inter or (metrics or {}).get("top1") is None:
        return (
            text
            + " What the warp is worth to the model is not measured (no interventions in its evaluation)."
        )
    text += (
        f" Over its test split it scores top-1 **{metrics['top1']:.3f}** with its own warps, "
        f"{inter['uniform']['top1']:.3f} through the identity"
    )
    swaps = {"swap_other": "another class's clip's warp", "swap_same": "a same-class clip's"}
    text += "".join(f", {inter[k]['top1']:.3f} through {words}" for k, words in swaps.items() if k in inter)
    return text + "."


def received_sentences(
    here: dict | None, interval: tuple[int, int] | None, split: dict | None, steps: int
) -> list[str]:
    """The received weights' share on the truth interval for this clip (``here``, from
    ``temporal_scores``; ``interval`` in frames) and over the test split (``split``, from
    ``received_scores``), each beside equal weights, always the middle and the best at ``steps``."""
    out = []
    if here is not None and interval is not None:
        out.append(
            f"The ground-truth interval, frames {interval[0]}–{interval[1] - 1}, receives "
            f"**{here['share']:.2f}** of it; equal weights would give {here['uniform']:.2f}, always the "
            f"middle {here['middle']:.2f}, the best at its {steps} steps {here['best']:.2f}."
        )
    if split is not None:
        out.append(
            f"Over its test split ({split['clips']} clips): **{split['share']:.2f}** on the truth "
            f"interval, equal weights {split['uniform']:.2f}, always the middle {split['middle']:.2f}, "
            f"the best {split['best']:.2f}."
        )
    return out


def nonlocal_sentence(affinities: dict[str, np.ndarray]) -> str:
    """What a non-local model's affinities are, in one markdown sentence: how many blocks, and per
    block how many positions weigh how many (``affinities``: ``{block: (N, M)}``, rows sum to one);
    the entropy of each block's rows against equal weights says how spread they are on this clip."""
    if not affinities:
        raise ValueError("no non-local affinities: the model has no non-local blocks")
    parts = []
    for block, a in affinities.items():
        a = np.asarray(a, dtype=np.float64)
        if a.ndim != 2 or a.shape[1] < 1:
            raise ValueError(f"the affinity of {block} must be (N, M), got {a.shape}")
        m = a.shape[1]
        entropy = -(a * np.log(np.clip(a, 1e-12, None))).sum(1).mean()
        spread = 1.0 if m == 1 else max(0.0, float(entropy / np.log(m)))  # 0: one position each
        parts.append(f"{block} {a.shape[0]} x {m} ({spread:.2f})")
    return (
        f"**Non-local blocks** ({len(affinities)}): each position of a block's map weighs all of its "
        "block's positions (subsampled), across space and time at once, so they are not drawn. "
        "Positions x weighed positions per block, with how even this clip's weights are (1.00: equal "
        "weights): " + "; ".join(parts) + "."
    )
