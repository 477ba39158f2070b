"""The shared sidebar: which clip every page shows."""

from __future__ import annotations

import streamlit as st

from core_models.data.ntu import format_name
from core_models.synth import SYNTH_ACTIONS, SYNTH_CAMERAS, SYNTH_CLASSES, SYNTH_SUBJECTS, setup_for


def choose_synthetic_clip() -> str:
    """Widgets that pick a synthetic clip by class, subject, camera and repetition; returns its name."""
    st.header("Clip")
    label = st.selectbox(
        "Class", range(len(SYNTH_ACTIONS)), format_func=lambda i: SYNTH_CLASSES[i], key="synth_class"
    )
    subject = st.selectbox("Subject", SYNTH_SUBJECTS, format_func=lambda p: f"P{p:03d}", key="synth_subject")
    camera = st.radio(
        "Camera", SYNTH_CAMERAS, horizontal=True, format_func=lambda c: f"C{c:03d}", key="synth_camera"
    )
    repetition = st.radio("Repetition", (1, 2), horizontal=True, key="synth_repetition")
    setup = setup_for(subject, repetition)  # as in the dataset: each subject has two setups
    st.caption(f"Setup S{setup:03d} (follows from subject and repetition)")
    return format_name(setup, camera, subject, repetition, SYNTH_ACTIONS[label])
