"""The clip gallery of the compare and failures pages: a thumbnail per clip with its truth,
prediction and confidence, a button to inspect it or explain it, and a tag and note kept in the
model's results store (:func:`core_models.results.write_note`).

Thumbnails show the person at the middle of each clip's discriminative interval for synthetic
clips (that one frame rendered) and the middle frame of a dataset clip whose folder is on this
machine; they are cached per process (:data:`MAX_THUMBNAILS`, 56 KiB each: 14 MiB).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st

from app_support import comparing, state
from app_support.models import ModelEntry
from app_support.navigation import EXPLAIN_PAGE, open_clip
from core_models import results
from viz import gallery as vg

MAX_THUMBNAILS = 256
THUMB_SIZE = (120, 160)  # (H, W) of a thumbnail
PER_PAGE = 12
COLUMNS = 4
URL = "query-params"


def _synth_seed(root: str) -> int:
    try:
        return int(json.loads((Path(root) / "synth.json").read_text()).get("seed", 0))
    except (OSError, ValueError, AttributeError):
        return 0


@st.cache_data(show_spinner=False, max_entries=MAX_THUMBNAILS)
def thumbnail(clip: str, data: str, root: str) -> np.ndarray:
    """A small frame of ``clip`` from the dataset ``data`` at ``root`` (grey when unreadable)."""
    try:
        if data == "synth":
            from core_models.synth.generate import render_frame

            return render_frame(clip, seed=_synth_seed(root), size=THUMB_SIZE, person=True)
        if root and Path(root).is_dir():
            frames = state.load_clip({"kind": "dataset", "data": data, "root": root, "name": clip}).frames
            if frames is not None:
                return vg.thumbnail(frames[len(frames) // 2], THUMB_SIZE[1])
    except state.LOAD_ERRORS:
        pass
    return vg.blank(THUMB_SIZE[1], THUMB_SIZE[0])


def notes_of(entry: ModelEntry) -> pd.DataFrame:
    """The tags and notes kept for ``entry``'s test clips (an empty table when unreadable)."""
    try:
        return results.read_notes(entry.path)
    except (OSError, ValueError) as err:
        st.warning(f"{entry.name}'s notes could not be read ({err}); new notes replace them.")
        return results.read_notes(Path("/nonexistent"))


def _save(entry: ModelEntry, key: str, remove: bool = False) -> None:
    clip = st.session_state.get(f"{key}_note_clip") or ""
    tag = "" if remove else st.session_state.get(f"{key}_note_tag") or ""
    note = "" if remove else st.session_state.get(f"{key}_note_text") or ""
    try:
        results.write_note(entry.path, clip, tag, note)
        st.session_state["_gallery_message"] = (
            "success",
            f"{'Removed' if remove else 'Saved'} the note on {clip}.",
        )
    except (OSError, ValueError) as err:
        st.session_state["_gallery_message"] = ("error", f"Could not save the note on {clip}: {err}")


def tag_form(rows: pd.DataFrame, entry: ModelEntry, key: str) -> None:
    """One form to tag a clip of ``rows`` (a page of the gallery) and note why it failed."""
    with st.form(f"{key}_tagging", border=True):
        st.markdown(f"**Tag a clip** (kept with {entry.name}'s results)")
        c1, c2, c3 = st.columns([2, 2, 3])
        clip = c1.selectbox("Clip", rows["clip"].tolist(), key=f"{key}_note_clip")
        current = rows.set_index("clip").loc[clip] if clip in set(rows["clip"]) else None
        known = [*dict.fromkeys([*vg.TAGS, *sorted({t for t in rows["tag"] if t})])]
        c2.selectbox("Tag", known, index=None, key=f"{key}_note_tag", accept_new_options=True,
                     placeholder="pick or type a tag")  # fmt: skip
        c3.text_input("Note", key=f"{key}_note_text", max_chars=results.MAX_NOTE, placeholder="why it failed")
        left, right, _ = st.columns([1, 1, 4])
        left.form_submit_button("Save", on_click=_save, args=(entry, key), type="primary")
        right.form_submit_button("Remove its note", on_click=_save, args=(entry, key, True))
        if current is not None and (current["tag"] or current["note"]):
            st.caption(f"{clip} now: **{current['tag'] or '(no tag)'}** {current['note']}")


def gallery(rows: pd.DataFrame, entry: ModelEntry, key: str, *, per_page: int = PER_PAGE) -> None:
    """Cards of ``rows`` (a clips table with notes, see :func:`viz.gallery.with_notes`), a page
    at a time; each opens its clip with ``entry`` or tags it in ``entry``'s results store."""
    message = st.session_state.pop("_gallery_message", None)
    if message:
        (st.success if message[0] == "success" else st.error)(message[1])
    if rows.empty:
        st.caption("No clip to show.")
        return
    pages = -(-len(rows) // per_page)
    page = 1
    if pages > 1:
        page = st.number_input(f"Page (of {pages}, {per_page} clips each)", 1, pages, 1,
                               key=f"{key}_page", bind=URL)  # fmt: skip
    found = comparing.evaluation(entry)
    m = found[0] if found else {}
    data, root = str(m.get("data", "")), str(m.get("root", ""))
    shown = vg.page_of(rows, page, per_page)
    for start in range(0, len(shown), COLUMNS):
        for col, (_, row) in zip(st.columns(COLUMNS), shown.iloc[start : start + COLUMNS].iterrows()):
            with col, st.container(border=True):
                head, numbers = vg.card_text(row)
                wrong = row["label_name"] != row["pred_name"]
                st.image(thumbnail(row["clip"], data, root), width="stretch")
                st.markdown(f"{':red[✗] ' if wrong else ''}**{head}**")
                tagged = (
                    f"  \n:orange[{row['tag'] or 'note'}] *{row['note']}*"
                    if row["tag"] or row["note"]
                    else ""
                )
                st.caption(f"{row['clip']} · {numbers}{tagged}")
                card = f"{key}_{row['clip']}"
                a, b = st.columns(2)
                if a.button("Inspect", key=f"{card}_open", width="stretch"):
                    open_clip(row["clip"], model=entry.name, data=data, root=root)
                if b.button("Explain", key=f"{card}_explain", width="stretch"):
                    open_clip(row["clip"], model=entry.name, page=EXPLAIN_PAGE, data=data, root=root)
    tag_form(shown, entry, key)
