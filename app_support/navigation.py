"""Opening a clip in the inspection pages from anywhere (a confusion cell, a failure, a flip).

A page that wants to show a clip calls :func:`open_clip`; the router applies the request at the
start of the next run, *before* the sidebar widgets exist (Streamlit forbids changing a widget's
value after it is drawn), so the sidebar then shows that clip and that model.
"""

from __future__ import annotations

from collections.abc import MutableMapping

import streamlit as st

from core_models.data.ntu import parse_name
from core_models.synth import SYNTH_ACTIONS

PENDING = "_open_clip_request"
INSPECT_PAGE = "pages/clip.py"
EXPLAIN_PAGE = "pages/explain.py"


def open_clip(
    name: str, model: str | None = None, page: str = INSPECT_PAGE, *, data: str = "synth", root: str = ""
) -> None:
    """Show clip ``name`` with model ``model`` (a ModelEntry name) on ``page``.

    A synthetic clip (``data="synth"``, an NTU name) is rendered on demand; any other is read
    from the dataset folder ``root`` of the reader ``data`` (a :data:`app_support.sources.DATASETS` key).
    """
    st.session_state[PENDING] = {"name": name, "model": model, "data": data, "root": root}
    st.switch_page(page)


def apply_pending(state: MutableMapping) -> dict | None:
    """Set the sidebar's widget keys from a pending request; returns the request (or None).

    Called by the router before it draws the sidebar.
    """
    req = state.pop(PENDING, None)
    if not req:
        return None
    if req.get("data", "synth") != "synth":
        state["source"] = "Dataset folder"
        state["dataset_kind"], state["dataset_root"] = req["data"], req["root"]
        state["dataset_filter"], state["dataset_clip"] = "", req["name"]
        state["clip_source"] = {
            "kind": "dataset",
            "data": req["data"],
            "root": req["root"],
            "name": req["name"],
        }
        if req.get("model"):
            state["model_name"] = req["model"]
        return req
    m = parse_name(req["name"])
    state["source"] = "Synthetic"
    state["synth_class"] = SYNTH_ACTIONS.index(m["action"])
    state["synth_subject"] = m["subject"]
    state["synth_camera"] = m["camera"]
    state["synth_repetition"] = m["repetition"]
    state["clip_source"] = {"kind": "synthetic", "name": req["name"]}
    if req.get("model"):
        state["model_name"] = req["model"]
    return req


def through_router() -> None:
    """Run this page inside the router (app.py), also when it is the first page a server sees.

    Streamlit runs a script of ``pages/`` on its own (its older multipage mode: no shared sidebar,
    file names as the menu) when a fresh server's first request is that page's URL, until some
    run of app.py has called ``st.navigation``. Every page calls this first: in that mode it
    switches the process to ``st.navigation`` and reruns, so the router draws the requested page.
    """
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()
