"""ADL attention lab: the router. Run with ``streamlit run app.py`` (or ``make app``).

Works offline with no dataset: synthetic clips are rendered on demand from their NTU-style names.
The sidebar chooses the clip; each page in ``pages/`` shows one view of it.
"""

from __future__ import annotations

import streamlit as st

from app_support.sidebar import choose_synthetic_clip

st.set_page_config(page_title="ADL attention lab", layout="wide")

# st.navigation must run before the shared sidebar widgets: created the other way round, a
# widget change is taken for a page change and reset (streamlit 1.67, checked in a browser).
page = st.navigation([st.Page("pages/clip.py", title="Clip", icon=":material/movie:", default=True)])

with st.sidebar:
    st.session_state["clip_name"] = choose_synthetic_clip()
    st.session_state["show_skeleton"] = st.toggle("Skeleton overlay", value=True, key="skeleton_overlay")

page.run()
