"""Dense optical flow for the temporal stream of two-stream networks.

Simonyan & Zisserman (2014) feed the temporal ConvNet a stack of the horizontal and vertical flow
of L = 10 consecutive frame pairs, 2L = 20 channels, interleaved
``[dx_0, dy_0, dx_1, dy_1, ..., dx_{L-1}, dy_{L-1}]``. Here:

* :func:`frame_flow`: OpenCV's Farneback flow between two frames (pixels, (H, W, 2) as (dx, dy)).
  The paper used Brox et al.'s flow and later work TV-L1; neither is in OpenCV's main package,
  Farneback is, and the stream only needs a dense motion field of the right sign and scale.
* :func:`clip_flow`: the flow of every consecutive pair of a clip's (square, resized) frames,
  clipped to +-``bound`` and quantised to uint8 (128 is zero motion) -- the common practice of
  storing flow as 8-bit images (e.g. TV-L1 clipped to +-20 px) -- which keeps the on-disk cache
  small. ``bound`` is a
  fraction of the frame side (:data:`FLOW_BOUND` = 20 / 224, i.e. 20 px at 224^2, 5.7 px at 64^2),
  so the scale does not depend on the preset's frame size.
* :func:`flow_stack`: L consecutive fields as a (2L, S, S) float tensor in [-1, 1] (-1 and 1 are
  -bound and +bound): centred in the clip for evaluation, at a random start for training.

The :class:`~core_models.data.datasets.ClipDataset` keeps the quantised fields of the whole clip
(at full frame rate, not subsampled, since flow is between consecutive frames) in the same
cached file as the other prepared arrays, under ``flow``: uint8 (T - 1, S, S, 2), packed per field.

Departures: no mean-flow subtraction (the paper's camera-motion compensation; the supported
datasets are shot from fixed cameras); ``count`` stacks spread over the clip per training item
(the two-stream ``cpu`` preset reads 3, the paper 1); evaluation items read more (``cpu``: 9; the
paper's test: 25).
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

FLOW_BOUND = 20.0 / 224.0


def frame_flow(prev: np.ndarray, nxt: np.ndarray) -> np.ndarray:
    """Farneback flow from ``prev`` to ``nxt`` (uint8 RGB (H, W, 3) or grey (H, W)).

    Returns:
        float32 (H, W, 2): (dx, dy) in pixels, so ``nxt[y + dy, x + dx] ~ prev[y, x]``.
    """
    a = cv2.cvtColor(prev, cv2.COLOR_RGB2GRAY) if prev.ndim == 3 else prev
    b = cv2.cvtColor(nxt, cv2.COLOR_RGB2GRAY) if nxt.ndim == 3 else nxt
    side = min(a.shape)
    win = max(5, (side // 16) | 1)  # 15 at 224^2, 5 at 64^2: the window follows the frame size
    levels = max(1, min(3, int(np.log2(max(side, 2) / 16))))
    return cv2.calcOpticalFlowFarneback(a, b, None, 0.5, levels, win, 3, 5, 1.1, 0).astype(np.float32)


def quantize(flow: np.ndarray, bound: float) -> np.ndarray:
    """Pixels -> uint8: clip to +-bound, map [-bound, bound] to [1, 255] with 0 at 128 exactly."""
    unit = np.clip(flow / bound, -1.0, 1.0)
    return (np.round(unit * 127.0) + 128.0).astype(np.uint8)


def dequantize(fields: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 -> float32 in [-1, 1] (units of the bound), ``(q - 128) / 127``; the inverse of
    :func:`quantize`. One conversion and two in-place passes (numpy's ``astype``, subtraction and
    division wrote three float arrays; the values are the same bit for bit, a test checks it)."""
    return torch.as_tensor(fields).float().sub_(128.0).div_(127.0)


def clip_flow(frames: np.ndarray, *, bound_fraction: float = FLOW_BOUND) -> np.ndarray:
    """Quantised flow of every consecutive pair of a clip.

    Args:
        frames: uint8 (T, S, S, 3) frames (already resized to the model's input).
        bound_fraction: clipping bound as a fraction of the frame side.

    Returns:
        uint8 (max(T - 1, 1), S, S, 2); a single-frame clip gets one zero-motion field.
    """
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be (T, H, W, 3), got {frames.shape}")
    bound = bound_fraction * min(frames.shape[1:3])
    if len(frames) < 2:
        return quantize(np.zeros((1, *frames.shape[1:3], 2), np.float32), bound)
    grey = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]
    return np.stack([quantize(frame_flow(a, b), bound) for a, b in zip(grey[:-1], grey[1:])])


def stack_start(num_fields: int, length: int, rng: np.random.Generator | None = None) -> int:
    """First field of a stack of ``length``: centred, or uniform at random when ``rng`` is given."""
    last = max(num_fields - length, 0)
    return int(rng.integers(0, last + 1)) if rng is not None else last // 2


def stack_starts(
    num_fields: int, length: int, count: int = 1, rng: np.random.Generator | None = None
) -> np.ndarray:
    """First field of each of ``count`` stacks of ``length``: stack k starts in the k-th of
    ``count`` equal bins of the possible starts, at the bin's centre or (``rng``) anywhere in it.
    One stack is :func:`stack_start`'s."""
    if count <= 1:
        return np.array([stack_start(num_fields, length, rng)], dtype=np.int64)
    last = max(num_fields - length, 0)
    edges = np.linspace(0, last + 1, count + 1)
    lo = np.minimum(np.ceil(edges[:-1]).astype(np.int64), last)  # bins share no start
    hi = np.maximum(np.ceil(edges[1:]).astype(np.int64) - 1, lo)  # inclusive
    if rng is None:
        return (lo + hi) // 2
    return np.array([int(rng.integers(a, b + 1)) for a, b in zip(lo, hi, strict=True)], dtype=np.int64)


def stack_fields(num_fields: int, length: int, count: int = 1, rng: np.random.Generator | None = None):
    """The field index of every field of the ``count`` stacks, in order (count * L,)."""
    starts = stack_starts(num_fields, length, count, rng)
    return np.minimum((starts[:, None] + np.arange(length)).reshape(-1), max(num_fields - 1, 0))


def flow_stack(
    fields: np.ndarray, length: int, rng: np.random.Generator | None = None, count: int = 1
) -> torch.Tensor:
    """``count`` stacks of L consecutive quantised fields as the temporal stream's input.

    Args:
        fields: uint8 (N, S, S, 2) from :func:`clip_flow`.
        length: L; a clip with fewer fields repeats its last one.
        rng: random starts (training), else centred (in their bins, see :func:`stack_starts`).
        count: stacks spread over the clip (the paper averages the temporal stream over 25 at
            test time); they follow one another on the channel axis.

    Returns:
        float32 (count * 2L, S, S) in [-1, 1], channels ``[dx_0, dy_0, dx_1, dy_1, ...]`` of
        the first stack, then the next.
    """
    return stack_channels(fields[stack_fields(len(fields), length, count, rng)])


def stack_channels(fields: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Quantised fields ``(..., N, S, S, 2)`` -> the float32 stack ``(..., 2N, S, S)`` in [-1, 1],
    channels ``[dx_0, dy_0, dx_1, ...]``; any leading axes (a batch) stay. Channels move first
    while still uint8 (a quarter of the bytes), then one float conversion."""
    t = torch.as_tensor(fields)
    *lead, n, h, w, _ = t.shape
    return dequantize(t.movedim(-1, -3).reshape(*lead, 2 * n, h, w))
