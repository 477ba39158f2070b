"""ADL attention lab: the router. Run with ``make app`` (``streamlit run serve.py``, see serve.py)
or ``streamlit run app.py``.

Works offline with no dataset: synthetic clips are rendered on demand from their NTU-style names,
and the models are the trained checkpoints shipped in ``checkpoints/``. The sidebar chooses the
clip and the model; each page in ``pages/`` shows one view of them.
"""

from __future__ import annotations

from app_support import process

process.configure()  # torch threads and the allocator, before anything imports torch

import streamlit as st  # noqa: E402

from app_support.navigation import apply_pending  # noqa: E402
from app_support.settings import training_enabled  # noqa: E402
from app_support.sidebar import sidebar  # noqa: E402

# An emoji icon: Streamlit draws it as an inline SVG, where a ":material/...:" page icon makes
# every page fetch the icon from fonts.gstatic.com (the app runs offline).
st.set_page_config(page_title="ADL attention lab", page_icon="👁️", layout="wide")

PAGES = {
    "Inspect a clip": [
        st.Page("pages/clip.py", title="Clip and prediction", icon=":material/movie:", default=True),
        st.Page("pages/parts.py", title="Body-part attention", icon=":material/accessibility_new:"),
        st.Page("pages/spatiotemporal.py", title="Spatio-temporal attention", icon=":material/blur_on:"),
        st.Page("pages/granularity.py", title="Temporal granularity", icon=":material/view_timeline:"),
        st.Page("pages/glimpses.py", title="Glimpse Clouds", icon=":material/scatter_plot:"),
        st.Page("pages/explain.py", title="Attributions", icon=":material/insights:"),
    ],
    "Models": [
        st.Page("pages/compare.py", title="Compare models", icon=":material/compare:"),
        st.Page("pages/failures.py", title="Failures", icon=":material/error:"),
        st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
    ],
    "Teach": [
        st.Page("pages/playground.py", title="Attention playground", icon=":material/school:"),
        st.Page("pages/lesson.py", title="Lesson export", icon=":material/download:"),
    ],
}
if not training_enabled():  # ADL_TRAINING=off (README: Serving it to others)
    PAGES["Models"] = [p for p in PAGES["Models"] if p.title != "Train"]

# st.navigation must run before the shared sidebar widgets: created the other way round, a
# widget change is taken for a page change and reset (streamlit 1.67, checked in a browser).
page = st.navigation(PAGES)
apply_pending(st.session_state)  # a clip opened from the compare or failures page

with st.sidebar:
    sidebar()

with process.timed_run(page.title):  # the run's seconds, for `bench app`; then frees memory
    page.run()
