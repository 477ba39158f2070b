"""The temporal-granularity slide: one row per granularity G (the ``segments`` / ``granularity`` views).

A row shows the granularity's attention (TG-att) and, for each of its G segments, the segment's
middle frame with its attention (TS-att). The most attended segment of each row and the most
attended row are outlined, as on the WACV 2020 slide. On synthetic clips :func:`with_truth` adds
how much of each segment lies in the ground-truth discriminative interval; the slide then
underlines that part of each thumbnail and the table gets a column for it.
"""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd

from core_models.data.sampling import segment_bounds

BACKGROUND = (255, 255, 255)
TEXT_COLOUR = (20, 20, 20)
BEST_SEGMENT_COLOUR = (255, 140, 0)
BEST_ROW_COLOUR = (220, 0, 0)
TRUTH_COLOUR = (0, 170, 90)
FONT = cv2.FONT_HERSHEY_SIMPLEX
TABLE_COLUMNS = ("G", "segment", "frames", "TS-att %", "TG-att %")
TRUTH_COLUMN = "in truth interval %"


def granularity_rows(segments: dict[int, np.ndarray], granularity: np.ndarray, num_frames: int) -> list[dict]:
    """One row per granularity, ascending G.

    Args:
        segments: {G: (G,)} segment attention, in the model's order of granularities.
        granularity: (n_G,) attention over granularities, in the same order as ``segments``' keys.
        num_frames: T, frames of the clip (segments follow ``segment_bounds(T, G)``).

    Returns:
        ``[{"G", "tg", "best", "segments": [{"start", "end", "ts", "best"}]}]`` with ``tg`` and
        ``ts`` in percent, ``start``/``end`` half-open frame bounds, ``best`` marking the row's most
        attended segment and the most attended row.
    """
    granularity = np.asarray(granularity, dtype=np.float64).reshape(-1)
    if len(granularity) != len(segments):
        raise ValueError(f"granularity must be (n_G,) with n_G = {len(segments)}, got {granularity.shape}")
    best_row = int(np.argmax(granularity))
    rows = []
    for i, (key, beta) in enumerate(segments.items()):
        G = int(key)
        beta = np.asarray(beta, dtype=np.float64).reshape(-1)
        if len(beta) != G:
            raise ValueError(f"segments[{G}] must be ({G},), got {beta.shape}")
        best_seg = int(np.argmax(beta))
        rows.append(
            {
                "G": G,
                "tg": 100.0 * float(granularity[i]),
                "best": i == best_row,
                "segments": [
                    {"start": s, "end": e, "ts": 100.0 * float(b), "best": k == best_seg}
                    for k, ((s, e), b) in enumerate(zip(segment_bounds(num_frames, G), beta))
                ],
            }
        )
    return sorted(rows, key=lambda r: r["G"])


def with_truth(rows: list[dict], interval: tuple[int, int]) -> list[dict]:
    """Copies of ``rows`` whose segments carry ``"truth"``, ``"truth_start"``, ``"truth_end"``.

    Args:
        rows: from :func:`granularity_rows`.
        interval: the ground truth's half-open ``[start, end)`` discriminative frames.

    Returns:
        New rows; each segment gains ``truth``, the fraction (0..1) of its frames inside the
        interval, and ``truth_start`` / ``truth_end``, the overlap's half-open frame bounds
        (equal when the segment misses the interval).
    """
    lo, hi = int(interval[0]), int(interval[1])
    out = []
    for row in rows:
        segs = []
        for seg in row["segments"]:
            a, b = max(seg["start"], lo), min(seg["end"], hi)
            a, b = (a, b) if b > a else (seg["start"], seg["start"])
            frac = (b - a) / max(seg["end"] - seg["start"], 1)
            segs.append({**seg, "truth": frac, "truth_start": a, "truth_end": b})
        out.append({**row, "segments": segs})
    return out


def _text_size(text: str, scale: float) -> tuple[int, int]:
    (w, h), base = cv2.getTextSize(text, FONT, scale, 1)
    return w, h + base


def granularity_image(frames: np.ndarray, rows: list[dict], thumb: int = 64) -> np.ndarray:
    """Compose the slide: per row a label ``"G=3  TG-att 48.5%"`` then one thumbnail per segment.

    Each thumbnail is its segment's middle frame, ``thumb`` pixels high, with ``"TS-att 76.3%"``
    under it. The best segment of a row is outlined in ``BEST_SEGMENT_COLOUR``; the best row is
    framed, and its label written, in ``BEST_ROW_COLOUR``. Segments from :func:`with_truth` get a
    ``TRUTH_COLOUR`` bar just under the thumbnail over the part of its width (the segment's time
    span, left to right) that lies in the ground-truth interval. All rows have the same height, so row
    ``i`` occupies pixel rows ``[i * H / n, (i + 1) * H / n)``.

    Args:
        frames: uint8 (T, H, W, 3) RGB.
        rows: from :func:`granularity_rows`.
        thumb: thumbnail height in pixels (at least 64 keeps the text legible).

    Returns:
        uint8 (H_img, W_img, 3) RGB.
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or not rows:
        raise ValueError(f"need uint8 (T, H, W, 3) frames and at least one row, got {frames.shape}")
    T, H, W = frames.shape[:3]
    thumb = max(16, int(thumb))
    tw = max(1, round(thumb * W / H))
    scale = max(0.45, thumb / 140)
    pad, border = 8, 3
    labels = [f"G={r['G']}  TG-att {r['tg']:.1f}%" for r in rows]
    label_w = max(_text_size(s, scale)[0] for s in labels) + 2 * pad
    cap_w, cap_h = _text_size("TS-att 100.0%", scale)
    cell_w = max(tw, cap_w) + 2 * pad
    row_h = thumb + cap_h + 3 * pad + 2 * border
    n_cols = max(len(r["segments"]) for r in rows)
    img = np.full((row_h * len(rows), label_w + n_cols * cell_w + border, 3), BACKGROUND, np.uint8)

    for i, (row, label) in enumerate(zip(rows, labels)):
        top = i * row_h
        colour = BEST_ROW_COLOUR if row["best"] else TEXT_COLOUR
        cv2.putText(img, label, (pad, top + row_h // 2), FONT, scale, colour, 1, cv2.LINE_AA)
        for k, seg in enumerate(row["segments"]):
            if seg["end"] > T:
                raise ValueError(f"segment {seg['start']}-{seg['end']} is past the clip's {T} frames")
            x = label_w + k * cell_w + (cell_w - tw) // 2
            y = top + pad + border
            mid = min((seg["start"] + seg["end"]) // 2, seg["end"] - 1)
            small = cv2.resize(frames[mid], (tw, thumb), interpolation=cv2.INTER_AREA)
            img[y : y + thumb, x : x + tw] = small
            if seg["best"]:
                cv2.rectangle(img, (x - 2, y - 2), (x + tw + 1, y + thumb + 1), BEST_SEGMENT_COLOUR, 2)
            if seg.get("truth", 0) > 0:
                span = max(seg["end"] - seg["start"], 1)
                bx0 = x + round((seg["truth_start"] - seg["start"]) / span * tw)
                bx1 = x + round((seg["truth_end"] - seg["start"]) / span * tw)
                img[y + thumb + 3 : y + thumb + 6, bx0:bx1] = TRUTH_COLOUR
            caption = f"TS-att {seg['ts']:.1f}%"
            cx = label_w + k * cell_w + (cell_w - _text_size(caption, scale)[0]) // 2
            org = (cx, y + thumb + pad + cap_h - 2)
            cv2.putText(img, caption, org, FONT, scale, TEXT_COLOUR, 1, cv2.LINE_AA)
        if row["best"]:
            cv2.rectangle(img, (1, top + 1), (img.shape[1] - 2, top + row_h - 2), BEST_ROW_COLOUR, border - 1)
    return img


def granularity_table(rows: list[dict]) -> pd.DataFrame:
    """One line per segment: G, segment (1-based), frames ``"a-b"`` (inclusive), TS-att %, TG-att %.

    Rows from :func:`with_truth` add ``TRUTH_COLUMN``, the percentage of the segment's frames
    inside the ground-truth interval.
    """
    truth = any("truth" in seg for row in rows for seg in row["segments"])
    records = [
        {
            "G": row["G"],
            "segment": k + 1,
            "frames": f"{seg['start']}-{seg['end'] - 1}",
            "TS-att %": round(seg["ts"], 2),
            "TG-att %": round(row["tg"], 2),
            **({TRUTH_COLUMN: round(100.0 * seg.get("truth", 0.0), 1)} if truth else {}),
        }
        for row in rows
        for k, seg in enumerate(row["segments"])
    ]
    return pd.DataFrame.from_records(records, columns=[*TABLE_COLUMNS, *([TRUTH_COLUMN] if truth else [])])
