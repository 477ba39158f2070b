"""Cached clip rendering for the app: a clip is rendered once per (name, seed, size)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import streamlit as st

from core_models.data.clip import Clip
from core_models.data.video import write_video


@st.cache_data(show_spinner="Rendering the clip…", max_entries=32)
def synthetic_clip(name: str, seed: int = 0, size: tuple[int, int] = (240, 320)) -> Clip:
    """A synthetic clip rendered on demand from its NTU-style name (no dataset on disk)."""
    from core_models.synth import render_clip

    return render_clip(name, seed=seed, size=size)


@st.cache_data(show_spinner=False, max_entries=32)
def webm_bytes(_frames_key: str, frames, fps: float) -> bytes:
    """VP8 WebM bytes of uint8 RGB frames (what browsers play; ``mp4v`` does not)."""
    with tempfile.TemporaryDirectory() as d:
        path = write_video(Path(d) / "clip.webm", frames, fps=fps)
        return path.read_bytes()
