"""What every page reads: the chosen clip, the chosen model, and the model's inspection of the clip.

The sidebar (drawn by the router) writes two session keys; pages only read them, so a page also
runs on its own (``AppTest`` runs one page script) with the defaults below:

* ``clip_source``: a clip source dict (:mod:`app_support.sources`), default the first synthetic
  clip;
* ``model_name``: the name of a :class:`~app_support.models.ModelEntry`, default
  ``part_attention-cs``.

Clips, models, inspections and drawn overlays are computed once per process and shared
(``st.cache_resource``, bounded by :data:`MAX_CLIPS`, :data:`MAX_MODELS`, :data:`MAX_INSPECTIONS`
and :data:`MAX_DRAWN`; models keyed by checkpoint path and mtime): shared objects are read,
never changed (never copied either: a 30 s upload holds 150 MB of frames).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import streamlit as st

from app_support import ui
from app_support.models import ModelEntry, list_models, missing_inputs, readers_of
from app_support.sources import load_source, open_dataset, source_key, with_pose, without_pose
from core_models.checkpoint import CheckpointError
from core_models.data.clip import Clip
from core_models.data.errors import DataFormatError
from core_models.inspect import Inspection, LoadedModel, check_fits, inspect_clip, load_model, what_if

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


# Bounds of the process-wide caches (see README, "Speed and memory"): a synthetic clip is about
# 3 MiB, an upload up to 150 MiB (a 30 s window at 320 px); a cpu-preset model 5-40 MiB with its
# buffers; an inspection well under 1 MiB.
MAX_CLIPS = 4
MAX_MODELS = 4
MAX_INSPECTIONS = 48
MAX_DRAWN = 3  # overlaid frame stacks (up to 64 MiB each): the clip, body-part and spatio-temporal pages
# what the pages import besides this module: imported by warm_up before the first visitor
WARM_MODULES = ("app_support.ui", "viz.charts", "viz.skeleton", "viz.parts", "viz.heatmap", "viz.granularity",
                "viz.glimpses", "viz.confusion", "viz.export", "pyarrow.parquet")  # fmt: skip


@st.cache_resource(show_spinner="Loading the clip…", max_entries=MAX_CLIPS)
def _clip(key: str, _source: dict[str, Any]) -> Clip:
    # cache_resource, not cache_data: one shared object instead of an unpickled copy of every
    # frame on every call. Its arrays are made read-only so that no page can change them for others.
    if _source.get("kind") == "upload" and _source.get("pose"):
        clip = with_pose(load_clip(without_pose(_source)), _source)  # the frames decoded once
    else:
        dataset = _source.get("kind") == "dataset"
        reader = dataset_reader(_source["data"], _source["root"]) if dataset else None
        clip = load_source(_source, reader)
    for array in (clip.frames, clip.joints2d, clip.joints3d):
        if array is not None:
            array.flags.writeable = False
    return clip


def load_clip(source: dict[str, Any]) -> Clip:
    """The clip a source names, loaded once per process (its arrays are read-only)."""
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


@st.cache_resource(show_spinner=False, max_entries=MAX_DRAWN)
def _drawn(slot: str, key: tuple, _make) -> tuple[np.ndarray, str]:
    frames = _make()
    frames.setflags(write=False)  # shared by every session that draws the same
    return frames, hashlib.blake2b(repr((slot, key)).encode(), digest_size=16).hexdigest()


def drawn(slot: str, entry: ModelEntry | None, clip: Clip, options: tuple, make) -> tuple[np.ndarray, str]:
    """The overlaid frames ``make()`` draws on ``clip`` for the page ``slot``, and a name for them
    (``ui.video``'s ``digest``), kept while what they are drawn from stays the same: the checkpoint
    and its modification time (as :func:`inspection`), the clip's frames and 2D joints, and the
    page's ``options``. Moving the frame slider then neither draws every frame again (0.7 s for
    a 207-frame clip enlarged to 284 rows) nor hashes them. One cache for the server, not one per
    session: at most :data:`MAX_DRAWN` stacks of at most 64 MiB each (``viz.parts.enlarge``)."""
    model = (str(entry.checkpoint), _stamp(entry)) if entry is not None else None
    joints = None if clip.joints2d is None else ui.frames_key(clip.joints2d)
    return _drawn(slot, (model, ui.frames_key(clip.frames), joints, *options), make)


@st.cache_resource(show_spinner="Loading the model…", max_entries=MAX_MODELS)
def _loaded(path: str, stamp: float) -> LoadedModel:
    return load_model(path, Path(path).parent.name)


def loaded_model(entry: ModelEntry) -> LoadedModel:
    """The model of ``entry``, built once per process (raises ``CheckpointError``)."""
    loaded = _loaded(str(entry.checkpoint), _stamp(entry))
    loaded.name = entry.name
    return loaded


@st.cache_resource(show_spinner="Running the model…", max_entries=MAX_INSPECTIONS)
def _inspection(path: str, stamp: float, key: str, name: str, _clip: Clip) -> Inspection:
    insp = inspect_clip(_loaded(path, stamp), _clip)
    insp.model = name
    return insp


def inspection(entry: ModelEntry, clip: Clip, source: dict[str, Any] | None = None) -> Inspection:
    """The model's prediction and attention on ``clip``, computed once per (checkpoint, clip).

    ``source`` is the clip's source (default: the sidebar's). The result is shared: read it,
    never change it. Raises ``ValueError`` when the model cannot read the clip (no video, no
    skeleton, joint count).
    """
    check_fits(loaded_model(entry).model, clip)
    key = source_key(source or clip_source()) + clip.name
    return _inspection(str(entry.checkpoint), _stamp(entry), key, entry.name, clip)


@st.cache_resource(show_spinner="Running the model with its attention replaced…", max_entries=MAX_INSPECTIONS)
def _what_if(path: str, stamp: float, key: str, _clip: Clip) -> list[dict[str, Any]]:
    return what_if(_loaded(path, stamp), _clip)


def what_if_rows(entry: ModelEntry, clip: Clip, source: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The model's prediction on ``clip`` with its own, uniform and true attention
    (:func:`core_models.inspect.what_if`), computed once per (checkpoint, clip); shared, read only.
    Raises ``ValueError`` when the model cannot read the clip."""
    check_fits(loaded_model(entry).model, clip)
    key = source_key(source or clip_source()) + clip.name
    return _what_if(str(entry.checkpoint), _stamp(entry), key, clip)


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


def use_model(name: str) -> None:
    """Make ``name`` the sidebar's model (a button callback: it runs before the sidebar is drawn)."""
    st.session_state[MODEL] = name


def offer_models(options: list[ModelEntry], message: str, key: str = "switch") -> None:
    """``message``, then one button per model of ``options`` that makes it the sidebar's model.

    The models trained on the current model's split come first.
    """
    current = current_entry()
    if current is not None:
        options = sorted(options, key=lambda e: e.protocol != current.protocol or e.data != current.data)
    st.info(message)
    cols = st.columns(4)  # packed to the left, four a row
    for i, e in enumerate(options):
        cols[i % len(cols)].button(
            f"Use {e.name}", key=f"{key}_{e.name}", on_click=use_model, args=(e.name,), help=e.label()
        )


def page_context(kinds: tuple[str, ...], what: str) -> tuple[Clip, ModelEntry, Inspection]:
    """The sidebar's clip and model and its inspection, when the model produces ``kinds``.

    When the sidebar's model lacks that attention, the page says so and offers the models that
    have it (one click makes one the sidebar's model), then stops; so does a loading error.
    """
    clip = current_clip()
    entry = current_entry()
    options = suitable(models(), kinds)
    if entry is None or not options:
        st.info(f"No trained model produces {what}. Train one on the Train page.")
        st.stop()
    if entry not in options:
        offer_models(options, f"**{entry.name}** (the sidebar's model) has no {what}. These models have it:")
        st.stop()
    if entry.true_attention:
        st.info(
            f"**{entry.name}** pools with the ground-truth {' and '.join(entry.true_attention)} weights "
            "(`true_attention`, an experiment that measures what the model scores when that attention is "
            "right): on a synthetic clip those weights are the truth, not learned; on a clip without a "
            "ground truth it uses its own, which learnt nothing."
        )
    try:
        return clip, entry, inspection(entry, clip)
    except CheckpointError as err:
        st.error(f"Could not load {entry.name}: {err}")
    except ValueError as err:
        st.error(cannot_read(entry, clip, err))
    st.stop()


def warm_up() -> None:
    """Load what the first page shows into the caches: the default clip, the default model and
    its inspection, and the modules the pages import (called by ``serve.py`` before the server
    opens, so the first visitor does not wait for them)."""
    import importlib

    for module in WARM_MODULES:
        importlib.import_module(module)
    entry = entry_by_name(DEFAULT_MODEL) or next(iter(models()), None)
    clip = load_clip(DEFAULT_SOURCE)
    if entry is not None:
        inspection(entry, clip, DEFAULT_SOURCE)
