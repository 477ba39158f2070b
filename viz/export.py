"""Bytes for the download buttons: PNG images, standalone HTML figures, CSV tables, WebM videos."""

from __future__ import annotations

import tempfile
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import plotly.graph_objects as go

from core_models.data.video import write_video


def png_bytes(image: np.ndarray) -> bytes:
    """PNG of a uint8 (H, W, 3) RGB image."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"image must be uint8 (H, W, 3), got {image.dtype} {image.shape}")
    ok, buf = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if not ok:
        raise RuntimeError("OpenCV could not encode the image as PNG")
    return buf.tobytes()


def html_bytes(fig: go.Figure) -> bytes:
    """A standalone HTML page of the figure with plotly.js inlined, so it opens offline."""
    return fig.to_html(include_plotlyjs=True, full_html=True).encode("utf-8")


def csv_bytes(df: pd.DataFrame) -> bytes:
    """UTF-8 CSV of a table, without the index."""
    return df.to_csv(index=False).encode("utf-8")


def webm_bytes(frames: np.ndarray, fps: float) -> bytes:
    """A VP8 WebM video (plays in browsers) of uint8 (T, H, W, 3) RGB frames."""
    with tempfile.TemporaryDirectory(prefix="viz-export-") as tmp:
        path = write_video(Path(tmp) / "clip.webm", np.asarray(frames), fps)
        return path.read_bytes()
