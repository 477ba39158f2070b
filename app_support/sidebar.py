"""The shared sidebar: the clip (synthetic, a dataset folder, or an upload), the model, the overlay.

It writes ``clip_source`` and ``model_name`` (see :mod:`app_support.state`). Every choice is bound
to the URL's query parameters (``?source=Synthetic&synth_class=reading&model_name=i3d-cs``), so
a copied link opens the same clip and model, also on a fresh server; an upload is the exception
(its file is not in the link). A source that fails
(a folder that is not a dataset, a bad upload) shows the reason here and leaves the previous clip
in place, so nothing already loaded is lost.
"""

from __future__ import annotations

import streamlit as st

from app_support import state, uploads
from app_support.models import metrics
from app_support.sources import DATASETS
from core_models.data.ntu import format_name
from core_models.synth import SYNTH_ACTIONS, SYNTH_CAMERAS, SYNTH_CLASSES, SYNTH_SUBJECTS, setup_for

SOURCES = ("Synthetic", "Dataset folder", "Upload")
URL = "query-params"  # these widgets live in the page's URL (their key is the parameter's name)


def choose_synthetic_clip() -> str:
    """Widgets that pick a synthetic clip by class, subject, camera and repetition; returns its name."""
    label = st.selectbox(
        "Class",
        range(len(SYNTH_ACTIONS)),
        format_func=lambda i: SYNTH_CLASSES[i],
        key="synth_class",
        bind=URL,
    )
    subject = st.selectbox(
        "Subject", SYNTH_SUBJECTS, format_func=lambda p: f"P{p:03d}", key="synth_subject", bind=URL
    )
    camera = st.radio(
        "Camera",
        SYNTH_CAMERAS,
        horizontal=True,
        format_func=lambda c: f"C{c:03d}",
        key="synth_camera",
        bind=URL,
    )
    repetition = st.radio("Repetition", (1, 2), horizontal=True, key="synth_repetition", bind=URL)
    setup = setup_for(subject, repetition)  # as in the dataset: each subject has two setups
    st.caption(f"Setup S{setup:03d} (follows from subject and repetition)")
    return format_name(setup, camera, subject, repetition, SYNTH_ACTIONS[label])


def choose_dataset_clip() -> dict | None:
    data = st.selectbox(
        "Dataset", list(DATASETS), format_func=lambda k: DATASETS[k], key="dataset_kind", bind=URL
    )
    root = st.text_input("Folder", key="dataset_root", placeholder="data/nturgbd", bind=URL)
    if not root.strip():
        st.caption("Type the dataset's root folder.")
        return None
    try:
        reader = state.dataset_reader(data, root.strip())
    except state.LOAD_ERRORS as err:
        st.error(f"Not a {data} dataset: {err}")
        return None
    refs = reader.list_clips()
    st.caption(reader.summary())
    query = st.text_input("Filter names", key="dataset_filter", placeholder="A010 or P003", bind=URL)
    names = [r.name for r in refs if query.strip().lower() in r.name.lower()][:5000]
    if not names:
        st.warning("No clip name matches the filter.")
        return None
    name = st.selectbox(f"Clip ({len(names)} shown)", names, key="dataset_clip", bind=URL)
    return {"kind": "dataset", "data": data, "root": root.strip(), "name": name}


def choose_upload() -> dict | None:
    return uploads.choose_upload()


def choose_model() -> None:
    entries = state.models()
    if not entries:
        st.warning("No trained model: checkpoints/ is empty. Train one on the Train page.")
        return
    names = [e.name for e in entries]
    if st.session_state.get(state.MODEL) not in names:
        st.session_state[state.MODEL] = state.DEFAULT_MODEL if state.DEFAULT_MODEL in names else names[0]
    name = st.selectbox("Model", names, key=state.MODEL, bind=URL)
    entry = entries[names.index(name)]
    m = metrics(entry)
    where = "shipped" if entry.shipped else "run"
    if m:
        st.caption(
            f"{entry.model} · {entry.preset} preset · {entry.data} {entry.protocol.upper()} · {where} · "
            f"top-1 {m['top1']:.3f} · top-5 {m['top5']:.3f} · mean class {m['mean_class_accuracy']:.3f}"
        )
    else:
        st.caption(
            f"{entry.model} · {entry.preset} preset · {entry.data} {entry.protocol.upper()} · not evaluated"
        )


def sidebar() -> None:
    """Draw the sidebar and write the session keys every page reads."""
    st.header("Clip")
    source = st.radio("Source", SOURCES, horizontal=True, key="source", bind=URL)
    if source == "Synthetic":
        chosen = {"kind": "synthetic", "name": choose_synthetic_clip()}
    elif source == "Dataset folder":
        chosen = choose_dataset_clip()
    else:
        chosen = choose_upload()
    if chosen is not None:
        st.session_state[state.SOURCE] = chosen
    elif state.SOURCE in st.session_state:
        st.caption("Still showing the previous clip.")
    st.toggle("Skeleton overlay", value=True, key="show_skeleton", bind=URL)
    st.header("Model")
    choose_model()
