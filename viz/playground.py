"""The attention playground: three kinds of attention worked by hand on one synthetic clip.

Nothing here is learned; each function computes, in a few lines, the operation a model learns to
use, so its knobs can be turned by hand:

* soft and hard attention over a grid of image cells (Xu et al. 2015, "Show, attend and tell"):
  a score per cell, then a softmax (soft, a weighted average of every cell) or an argmax (hard,
  one cell only);
* a spatial transformer (Jaderberg et al. 2015): an affine ``theta`` places a sampling grid on the
  image and a bilinear sampler reads the image there (``core_models.models.stn``);
* scaled dot-product attention (Vaswani et al. 2017) between the frames of a clip:
  ``softmax(q k^T / sqrt(d))``, here with a temperature to show how sharp the softmax is.

Arrays in, uint8 frames or plotly figures out; nothing is shown here.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import plotly.graph_objects as go
import torch
import torch.nn.functional as F  # noqa: N812

SCORE_SOURCES = ("motion", "saliency", "position")
WEIGHT_SCALE = "Viridis"  # the cell weights
GRID_COLOUR = (0, 255, 255)  # sampling grid lines on the image
BOX_COLOUR = (255, 60, 60)  # the outline of the sampled region / the hard-attention cell
DIM = 0.25  # brightness of what attention leaves out
FEATURE_SIZE = (12, 16)  # (h, w) of the grey thumbnail behind frame_features
FEATURE_SEED = 0

# ---------------------------------------------------------------------------------------------
# soft and hard attention over image cells


def _check_frame(frame: np.ndarray) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[-1] != 3:
        raise ValueError(f"frame must be uint8 (H, W, 3), got {frame.dtype} {frame.shape}")
    return frame


def _cell_edges(n: int, cells: int) -> np.ndarray:
    return np.linspace(0, n, cells + 1).round().astype(int)


def cell_means(image: np.ndarray, grid: int) -> np.ndarray:
    """Mean of an (H, W) or (H, W, C) image over a grid x grid cells -> (grid, grid[, C]) float64."""
    image = np.asarray(image, dtype=np.float64)
    h, w = image.shape[:2]
    if not 1 <= grid <= min(h, w):
        raise ValueError(f"grid must be in 1..{min(h, w)} for a {h}x{w} image, got {grid}")
    ys, xs = _cell_edges(h, grid), _cell_edges(w, grid)
    sums = np.add.reduceat(np.add.reduceat(image, ys[:-1], axis=0), xs[:-1], axis=1)
    areas = np.outer(np.diff(ys), np.diff(xs))
    return sums / (areas[..., None] if image.ndim == 3 else areas)


def _grey(frame: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).astype(np.float64) / 255.0  # (H, W) in [0, 1]


def attention_scores(
    frame: np.ndarray,
    query: str,
    *,
    grid: int = 8,
    previous: np.ndarray | None = None,
    point: tuple[float, float] = (0.5, 0.5),
    sigma: float = 0.2,
) -> np.ndarray:
    """A hand-made relevance score per grid cell, rescaled to [0, 1].

    Sources (each a plain statistic of the cell, so the result can be explained):

    * ``motion``: mean absolute grey-level difference to ``previous`` (the frame before); moving
      limbs score high, the static room low. All zero without a previous frame.
    * ``saliency``: local contrast, the standard deviation of the grey levels inside the cell;
      edges and texture score high, flat wall and floor low.
    * ``position``: a Gaussian around ``point`` (x, y as fractions of width and height) with
      standard deviation ``sigma`` (a fraction of the side);
      a query that does not look at the image at all.

    Scores are min-max rescaled to [0, 1] (all zero when every cell scores the same), so the
    softmax temperature means the same for every source.

    Args:
        frame: uint8 (H, W, 3) RGB.
        query: one of :data:`SCORE_SOURCES`.
        grid: cells per side.
        previous: uint8 (H, W, 3), the frame before (``motion`` only).
        point: (x, y) in [0, 1] (``position`` only).
        sigma: Gaussian width as a fraction of the side (``position`` only).

    Returns:
        float64 (grid, grid).
    """
    frame = _check_frame(frame)
    if query == "motion":
        if previous is None:
            return np.zeros((grid, grid))
        previous = _check_frame(previous)
        if previous.shape != frame.shape:
            raise ValueError(f"previous must be {frame.shape} like frame, got {previous.shape}")
        s = cell_means(np.abs(_grey(frame) - _grey(previous)), grid)
    elif query == "saliency":
        g = _grey(frame)
        mean, mean_sq = cell_means(g, grid), cell_means(g * g, grid)
        s = np.sqrt(np.clip(mean_sq - mean * mean, 0.0, None))
    elif query == "position":
        centres = (np.arange(grid) + 0.5) / grid  # cell centres as fractions of the side
        dx, dy = centres[None, :] - point[0], centres[:, None] - point[1]
        s = np.exp(-(dx * dx + dy * dy) / (2 * max(sigma, 1e-6) ** 2))
    else:
        raise ValueError(f"query must be one of {SCORE_SOURCES}, got {query!r}")
    lo, hi = float(s.min()), float(s.max())
    return (s - lo) / (hi - lo) if hi > lo else np.zeros_like(s)


def soft_attention(scores: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Softmax of ``scores / temperature`` over all cells: (h, w) -> (h, w) weights summing to 1.

    A small temperature tends to the hard argmax (one-hot), a large one to the uniform 1 / (h w).
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2:
        raise ValueError(f"scores must be (h, w), got {scores.shape}")
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    z = scores / temperature
    e = np.exp(z - z.max())  # shifted by the max: the same softmax, without overflow
    return e / e.sum()


def hard_attention(scores: np.ndarray) -> np.ndarray:
    """One-hot (h, w) at the highest score (the first one on ties)."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2:
        raise ValueError(f"scores must be (h, w), got {scores.shape}")
    out = np.zeros_like(scores)
    out[np.unravel_index(int(np.argmax(scores)), scores.shape)] = 1.0
    return out


def effective_cells(weights: np.ndarray) -> float:
    """``exp(entropy)`` of a weight map: how many cells the attention is spread over (1 for hard
    attention, the number of cells for uniform attention)."""
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    w = w[w > 0] / w.sum()
    return float(np.exp(-(w * np.log(w)).sum()))


def attend_frame(frame: np.ndarray, weights: np.ndarray, mode: str = "soft") -> np.ndarray:
    """The frame as the attention sees it.

    ``soft``: every pixel's brightness is scaled by its cell's weight relative to the largest
    weight (from :data:`DIM` up to 1), so a sharp softmax lights a few cells and a flat one the
    whole frame. ``hard``: the chosen cell (the largest weight) at full brightness and outlined,
    every other cell dimmed to :data:`DIM`.

    Args:
        frame: uint8 (H, W, 3).
        weights: (h, w) cell weights (from :func:`soft_attention` or :func:`hard_attention`).
        mode: ``soft`` or ``hard``.

    Returns:
        uint8 (H, W, 3), a new array.
    """
    frame = _check_frame(frame)
    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim != 2:
        raise ValueError(f"weights must be (h, w), got {weights.shape}")
    gh, gw = weights.shape
    h, w = frame.shape[:2]
    if mode == "soft":
        peak = float(weights.max())
        level = weights / peak if peak > 0 else np.zeros_like(weights)
    elif mode == "hard":
        level = hard_attention(weights)
    else:
        raise ValueError(f"mode must be 'soft' or 'hard', got {mode!r}")
    ys, xs = _cell_edges(h, gh), _cell_edges(w, gw)
    rows = np.repeat(np.arange(gh), np.diff(ys))  # (H,) cell row of each pixel row
    cols = np.repeat(np.arange(gw), np.diff(xs))  # (W,)
    gain = DIM + (1.0 - DIM) * level[rows][:, cols]  # (H, W)
    out = (frame.astype(np.float32) * gain[..., None].astype(np.float32)).round().astype(np.uint8)
    if mode == "hard":
        r, c = np.unravel_index(int(np.argmax(weights)), weights.shape)
        cv2.rectangle(out, (int(xs[c]), int(ys[r])), (int(xs[c + 1]) - 1, int(ys[r + 1]) - 1), BOX_COLOUR, 2)
    return out


def glimpse_of(frame: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """What attention passes on: the weighted average of the cells' mean colours -> (3,) RGB.

    With soft weights it mixes every cell; with one-hot weights it is the chosen cell's colour.
    (A model does the same with learned feature vectors instead of colours.)
    """
    frame = _check_frame(frame)
    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim != 2 or weights.shape[0] != weights.shape[1]:
        raise ValueError(f"weights must be (grid, grid), got {weights.shape}")
    feats = cell_means(frame, weights.shape[0])  # (g, g, 3)
    return np.einsum("hw,hwc->c", weights, feats) / max(float(weights.sum()), 1e-12)


def weight_grid_figure(weights: np.ndarray, title: str = "") -> go.Figure:
    """The (h, w) cell weights as a heatmap, row 0 at the top like the image, values in the cells."""
    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim != 2:
        raise ValueError(f"weights must be (h, w), got {weights.shape}")
    fig = go.Figure(
        go.Heatmap(
            z=weights, colorscale=WEIGHT_SCALE, zmin=0.0, text=np.round(weights, 3),
            texttemplate="%{text}" if weights.size <= 100 else None,
            hovertemplate="row %{y}, column %{x}<br>weight %{z:.4f}<extra></extra>",
        )
    )  # fmt: skip
    fig.update_layout(
        title=title or None,
        yaxis={"autorange": "reversed", "scaleanchor": "x", "title": "row"},
        xaxis={"title": "column"},
        margin={"l": 10, "r": 10, "t": 40 if title else 10, "b": 10},
        height=320,
    )
    return fig


# ---------------------------------------------------------------------------------------------
# the spatial transformer


def theta_from(scale: float, rotation_deg: float, tx: float, ty: float) -> np.ndarray:
    """An affine ``theta`` (2, 3) from a zoom, a rotation and a shift, as an STN regresses it.

    ``theta`` maps output coordinates (x, y, 1), in [-1, 1], to the input coordinates sampled
    there: ``scale`` < 1 samples a smaller box (zooms in), ``rotation_deg`` turns the box
    (clockwise on screen, since image y points down), ``tx``/``ty`` move its centre (1 = half the
    image width/height to the right/down).
    """
    a = math.radians(rotation_deg)
    c, s = scale * math.cos(a), scale * math.sin(a)
    return np.array([[c, -s, tx], [s, c, ty]], dtype=np.float64)


def _check_theta(theta: np.ndarray) -> np.ndarray:
    theta = np.asarray(theta, dtype=np.float64)
    if theta.shape != (2, 3):
        raise ValueError(f"theta must be (2, 3), got {theta.shape}")
    return theta


def _to_pixels(points: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Normalised (N, 2) x, y in [-1, 1] -> pixel-edge coordinates (align_corners=False)."""
    h, w = size
    return np.stack([(points[:, 0] + 1) * w / 2, (points[:, 1] + 1) * h / 2], axis=1)


def _map(theta: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ theta[:, :2].T + theta[:, 2]  # (N, 2) output -> input coordinates


def affine_grid_box(theta: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Where the sampling grid lands in the image: its four corners in pixels.

    Coordinates follow ``align_corners=False``: -1 and 1 are the outer edges of the border pixels,
    so the corners are in pixel-edge units (0 is the left edge of the first pixel, W the right edge
    of the last). The identity gives the whole image, ``[[0, 0], [W, 0], [W, H], [0, H]]``.
    Corners may fall outside the image (the sampler then reads padding).

    Args:
        theta: (2, 3).
        size: (H, W) of the input image.

    Returns:
        float64 (4, 2) x, y of the output's top-left, top-right, bottom-right, bottom-left corners.
    """
    corners = np.array([[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]])
    return _to_pixels(_map(_check_theta(theta), corners), size)


def warp(
    frame: np.ndarray,
    theta: np.ndarray,
    out_size: tuple[int, int] | None = None,
    padding_mode: str = "zeros",
) -> np.ndarray:
    """Resample the frame through the affine grid: what the spatial transformer passes on.

    ``F.affine_grid`` + bilinear ``F.grid_sample`` with ``align_corners=False``, as in
    ``core_models.models.stn`` (which pads with the border; zeros here make what lies outside the
    image visible as black).

    Args:
        frame: uint8 (H, W, 3).
        theta: (2, 3).
        out_size: (Ho, Wo), the input's size when ``None``.
        padding_mode: ``zeros``, ``border`` or ``reflection``.

    Returns:
        uint8 (Ho, Wo, 3).
    """
    frame = _check_frame(frame)
    theta_t = torch.as_tensor(_check_theta(theta), dtype=torch.float32)[None]  # (1, 2, 3)
    ho, wo = out_size or frame.shape[:2]
    x = torch.tensor(frame, dtype=torch.float32).permute(2, 0, 1)[None]  # (1, 3, H, W), a copy
    grid = F.affine_grid(theta_t, [1, 3, ho, wo], align_corners=False)  # (1, Ho, Wo, 2)
    y = F.grid_sample(x, grid, mode="bilinear", padding_mode=padding_mode, align_corners=False)
    return y[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).numpy()  # (Ho, Wo, 3)


def draw_grid(frame: np.ndarray, theta: np.ndarray, lines: int = 8) -> np.ndarray:
    """The sampling grid drawn over the frame: ``lines`` + 1 lines each way, its outline in red.

    Each output row and column of the grid is a straight line in the input (the map is affine),
    so drawing the mapped end points is exact.

    Returns:
        uint8 (H, W, 3), a new array.
    """
    frame = _check_frame(frame)
    theta = _check_theta(theta)
    if lines < 1:
        raise ValueError(f"lines must be at least 1, got {lines}")
    out = frame.copy()
    size = frame.shape[:2]
    shift = 4  # sub-pixel precision for cv2 (coordinates times 2**4)

    def px(points: np.ndarray) -> np.ndarray:
        # pixel-edge units -> cv2's pixel-centre units, fixed point
        return ((_to_pixels(_map(theta, points), size) - 0.5) * (1 << shift)).round().astype(np.int32)

    for u in np.linspace(-1.0, 1.0, lines + 1):
        for a, b in (((u, -1.0), (u, 1.0)), ((-1.0, u), (1.0, u))):
            p = px(np.array([a, b]))
            cv2.line(out, tuple(map(int, p[0])), tuple(map(int, p[1])), GRID_COLOUR, 1, cv2.LINE_AA, shift)
    box = px(np.array([[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]]))
    cv2.polylines(out, [box.reshape(-1, 1, 2)], True, BOX_COLOUR, 2, cv2.LINE_AA, shift)
    return out


# ---------------------------------------------------------------------------------------------
# scaled dot-product attention between frames


def frame_features(frames: np.ndarray, dim: int = 32) -> np.ndarray:
    """A fixed, deterministic descriptor per frame: (T, H, W, 3) uint8 -> (T, dim) float64.

    Each frame is shrunk to a :data:`FEATURE_SIZE` grey thumbnail; the clip's mean thumbnail is
    subtracted (so the static room cancels and what remains is the pose); the result is projected
    by a fixed random matrix (seed :data:`FEATURE_SEED`) and scaled to length ``sqrt(dim)``, so
    that ``q . k / sqrt(dim)`` is ``sqrt(dim)`` times the cosine similarity of two frames.
    """
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be uint8 (T, H, W, 3), got {frames.dtype} {frames.shape}")
    fh, fw = FEATURE_SIZE
    thumbs = np.stack([cv2.resize(_grey(f), (fw, fh), interpolation=cv2.INTER_AREA) for f in frames]).reshape(
        len(frames), -1
    )  # (T, fh*fw)
    thumbs = thumbs - thumbs.mean(axis=0, keepdims=True)
    proj = np.random.default_rng(FEATURE_SEED).standard_normal((fh * fw, dim)) / math.sqrt(dim)
    feats = thumbs @ proj  # (T, dim)
    norms = np.linalg.norm(feats, axis=1, keepdims=True)
    return feats / np.maximum(norms, 1e-12) * math.sqrt(dim)


def dot_product_attention(q: np.ndarray, k: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise ``softmax(q k^T / (sqrt(d) * temperature))``: (T, d), (S, d) -> (T, S).

    Row ``i`` says how much query ``i`` reads from each key; every row sums to 1. Temperature 1 is
    the transformer's scaled dot-product attention; towards 0 each row tends to one-hot at its
    best-matching key, and a large temperature tends to the uniform 1 / S.
    """
    q, k = np.asarray(q, dtype=np.float64), np.asarray(k, dtype=np.float64)
    if q.ndim != 2 or k.ndim != 2 or q.shape[1] != k.shape[1]:
        raise ValueError(f"q and k must be (T, d) and (S, d), got {q.shape} and {k.shape}")
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    logits = torch.from_numpy(q @ k.T) / (math.sqrt(q.shape[1]) * temperature)  # (T, S)
    return torch.softmax(logits, dim=-1).numpy()


def top_frames(row: np.ndarray, k: int = 5) -> np.ndarray:
    """Indices of the ``k`` largest weights of one attention row, largest first."""
    row = np.asarray(row)
    return np.argsort(-row, kind="stable")[:k]


def attention_row_figure(row: np.ndarray, query: int) -> go.Figure:
    """One query frame's attention over the key frames as a curve, the uniform 1/S dashed."""
    row = np.asarray(row, dtype=np.float64)
    if row.ndim != 1:
        raise ValueError(f"row must be (S,), got {row.shape}")
    fig = go.Figure(
        go.Scatter(
            x=np.arange(len(row)), y=row, mode="lines+markers", name=f"query frame {query}",
            hovertemplate="key frame %{x}<br>weight %{y:.4f}<extra></extra>",
        )
    )  # fmt: skip
    fig.add_hline(
        y=1 / len(row), line={"dash": "dash", "color": "grey", "width": 1}, annotation_text="uniform"
    )
    fig.add_vline(x=query, line={"color": "red", "width": 1})
    fig.update_layout(
        xaxis={"title": "key frame"},
        yaxis={"title": "weight", "rangemode": "tozero"},
        margin={"l": 10, "r": 10, "t": 10, "b": 10},
        height=300,
    )
    return fig
