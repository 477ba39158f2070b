"""Temporal sampling: which frames of a clip a model sees.

* :func:`sample_indices` cuts the clip into ``num_samples`` equal bins and takes the centre of
  each bin (evaluation) or a random frame inside each bin (training). Clips shorter than
  ``num_samples`` repeat frames rather than pad with zeros, so every sample is a real frame.
* :func:`segment_bounds` / :func:`segment_indices` cut a clip into the G equal consecutive
  segments of granularity G (``frames[i*N//G:(i+1)*N//G]``, as in the temporal-granularity
  model) and sample inside each segment.
"""

from __future__ import annotations

import functools

import numpy as np


def sample_indices(
    num_frames: int, num_samples: int, *, rng: np.random.Generator | None = None
) -> np.ndarray:
    """Indices of ``num_samples`` frames spread uniformly over ``num_frames``.

    Args:
        num_frames: length of the clip (> 0).
        num_samples: frames to pick (> 0).
        rng: if given, a random frame inside each bin (training); else each bin's centre.

    Returns:
        int64 (num_samples,), non-decreasing, each in ``[0, num_frames)``.
    """
    if num_frames <= 0 or num_samples <= 0:
        raise ValueError(f"need num_frames > 0 and num_samples > 0, got {num_frames}, {num_samples}")
    lo, width, centres = _bins(int(num_frames), int(num_samples))
    if rng is None:
        return centres.copy()
    pos = lo + rng.random(num_samples) * width
    return np.minimum(np.maximum(np.floor(pos).astype(np.int64), 0), num_frames - 1)


@functools.lru_cache(maxsize=1024)
def _bins(num_frames: int, num_samples: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The bins' starts and widths and the indices of their centres (made once per clip length:
    a training item samples several times per epoch, and these cost more than the draw)."""
    edges = np.linspace(0.0, num_frames, num_samples + 1)
    lo, hi = edges[:-1], edges[1:]
    centres = np.clip(np.floor((lo + hi) / 2.0).astype(np.int64), 0, num_frames - 1)
    width = hi - lo
    for a in (lo, width, centres):
        a.flags.writeable = False  # shared by every call
    return lo, width, centres


def segment_bounds(num_frames: int, granularity: int) -> list[tuple[int, int]]:
    """The ``granularity`` equal consecutive segments of a clip as half-open ``(start, end)``.

    Segments of a clip shorter than the granularity reuse its frames, so none is empty.
    """
    if granularity <= 0 or num_frames <= 0:
        raise ValueError(f"need granularity > 0 and num_frames > 0, got {granularity}, {num_frames}")
    bounds = []
    for i in range(granularity):
        start, end = i * num_frames // granularity, (i + 1) * num_frames // granularity
        if end <= start:  # more segments than frames
            start = min(start, num_frames - 1)
            end = start + 1
        bounds.append((start, end))
    return bounds


def segment_indices(
    num_frames: int,
    granularity: int,
    per_segment: int,
    *,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Frame indices sampled inside each of the G segments.

    Returns:
        int64 (G, per_segment): row g holds indices inside segment g.
    """
    rows = []
    for start, end in segment_bounds(num_frames, granularity):
        rows.append(start + sample_indices(end - start, per_segment, rng=rng))
    return np.stack(rows)
