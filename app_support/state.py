"""What every page reads: the chosen clip, the chosen model, and the model's inspection of the clip.

The sidebar (drawn by the router) writes two session keys; pages only read them, so a page also
runs on its own (``AppTest`` runs one page script) with the defaults below:

* ``clip_source``: a clip source dict (:mod:`app_support.sources`), default the first synthetic
  clip;
* ``model_name``: the name of a :class:`~app_support.models.ModelEntry`, default
  ``part_attention-cs``.

Clips and models are loaded once per process (``st.cache_resource``: shared, never copied; a
model keyed by checkpoint path and mtime) and an inspection is computed once per (checkpoint,
clip) (``st.cache_data``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st

from app_support.models import ModelEntry, list_models, missing_inputs, readers_of
from app_support.sources import load_source, open_dataset, source_key, with_pose, without_pose
from core_models.checkpoint import CheckpointError
from core_models.data.clip import Clip
from core_models.data.errors import DataFormatError
from core_models.inspect import Inspection, LoadedModel, check_fits, inspect_clip, load_model

SOURCE = "clip_source"
MODEL = "model_name"
DEFAULT_SOURCE = {"kind": "synthetic", "name": "S001C001P001R001A001"}
DEFAULT_MODEL = "part_attention-cs"
LOAD_ERRORS = (DataFormatError, ValueError, OSError, KeyError, RuntimeError)


def clip_source() -> dict[str, Any]:
    return dict(st.session_state.get(SOURCE) or DEFAULT_SOURCE)


@st.cache_resource(show_spinner=False, max_entries=8)
def dataset_reader(data: str, root: str):
    """One open reader per dataset folder (listing a large dataset takes a while)."""
    return open_dataset(data, root)


# A resource, not data: st.cache_data would hand every caller an unpickled copy, and a 30 s video
# holds 150 MB of frames. Nothing changes a loaded clip (drawing functions copy what they draw on).
@st.cache_resource(show_spinner="Loading the clip…", max_entries=8)
def _clip(key: str, source: dict[str, Any]) -> Clip:
    if source.get("kind") == "upload" and source.get("pose"):
        return with_pose(load_clip(without_pose(source)), source)  # the frames decoded once
    reader = dataset_reader(source["data"], source["root"]) if source.get("kind") == "dataset" else None
    return load_source(source, reader)


def load_clip(source: dict[str, Any]) -> Clip:
    return _clip(source_key(source), source)


def current_clip() -> Clip:
    """The sidebar's clip; on a loading error the page shows the reason and stops."""
    source = clip_source()
    try:
        return load_clip(source)
    except LOAD_ERRORS as err:
        st.error(f"Could not load the clip: {err}")
        st.stop()


@st.cache_data(show_spinner=False, ttl=30)
def models() -> list[ModelEntry]:
    """Shipped checkpoints and runs (re-listed every 30 s, so a finished training run appears)."""
    return list_models()


def entry_by_name(name: str | None) -> ModelEntry | None:
    for e in models():
        if e.name == name:
            return e
    return None


def current_entry() -> ModelEntry | None:
    name = st.session_state.get(MODEL) or DEFAULT_MODEL
    entries = models()
    return entry_by_name(name) or (entries[0] if entries else None)


def _stamp(entry: ModelEntry) -> float:
    return entry.checkpoint.stat().st_mtime


@st.cache_resource(show_spinner="Loading the model…", max_entries=16)
def _loaded(path: str, stamp: float) -> LoadedModel:
    return load_model(path, Path(path).parent.name)


def loaded_model(entry: ModelEntry) -> LoadedModel:
    """The model of ``entry``, built once per process (raises ``CheckpointError``)."""
    loaded = _loaded(str(entry.checkpoint), _stamp(entry))
    loaded.name = entry.name
    return loaded


@st.cache_data(show_spinner="Running the model…", max_entries=128)
def _inspection(path: str, stamp: float, key: str, _clip: Clip) -> Inspection:
    return inspect_clip(_loaded(path, stamp), _clip)


def inspection(entry: ModelEntry, clip: Clip) -> Inspection:
    """The model's prediction and attention on ``clip``, computed once per (checkpoint, clip).

    Raises ``ValueError`` when the model cannot read the clip (no video, no skeleton, joint count).
    """
    check_fits(loaded_model(entry).model, clip)
    insp = _inspection(str(entry.checkpoint), _stamp(entry), source_key(clip_source()) + clip.name, clip)
    insp.model = entry.name
    return insp


def cannot_read(entry: ModelEntry, clip: Clip, err: Exception) -> str:
    """Why ``entry`` cannot read ``clip``, the models that can, and whether a pose estimate would help."""
    msg = f"{entry.name} cannot read this clip: {err}."
    others = [e.name for e in readers_of(models(), clip)]
    msg += f" Models that can: {', '.join(others)}." if others else " No model here can read it."
    lacks = missing_inputs(entry, clip)
    source = clip_source()
    if (
        source.get("kind") == "upload"
        and clip.joints3d is None
        and any("joints" in m or "skeleton" in m for m in lacks)
    ):
        msg += " Or estimate its pose (below, or in the sidebar) so that pose-driven models can read it."
    return msg


def suitable(entries: list[ModelEntry], kinds: tuple[str, ...]) -> list[ModelEntry]:
    """The entries whose model produces at least one of ``kinds`` (all entries when empty)."""
    return [e for e in entries if not kinds or set(kinds) & set(e.attention_kinds)]


def choose_model(kinds: tuple[str, ...], key: str, what: str) -> ModelEntry | None:
    """A page's model picker restricted to models with ``kinds`` of attention.

    Preselects the sidebar's model when it qualifies; says so when no model does.
    """
    options = suitable(models(), kinds)
    if not options:
        st.info(f"No trained model produces {what}. Train one on the Train page.")
        return None
    names = [e.name for e in options]
    side = st.session_state.get(MODEL) or DEFAULT_MODEL
    if st.session_state.get(key) not in names:
        st.session_state[key] = side if side in names else names[0]
    name = st.selectbox(f"Model with {what}", names, key=key)
    return options[names.index(name)]


def page_context(kinds: tuple[str, ...], key: str, what: str) -> tuple[Clip, ModelEntry, Inspection]:
    """The clip, a model with ``kinds`` attention and its inspection; or a message and ``st.stop``."""
    clip = current_clip()
    entry = choose_model(kinds, key, what)
    if entry is None:
        st.stop()
    try:
        return clip, entry, inspection(entry, clip)
    except CheckpointError as err:
        st.error(f"Could not load {entry.name}: {err}")
    except ValueError as err:
        st.error(cannot_read(entry, clip, err))
    st.stop()
