"""The app through Streamlit's AppTest: the router renders a real synthetic clip, and each page
renders the clip named in the session state.

AppTest (streamlit 1.67) re-runs only the current page script after the first run of an
``st.navigation`` app, so sidebar interaction is not testable through the router; pages are tested
on their own with the session state the sidebar would set, and the real-browser test covers the
sidebar end to end.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core_models.data.ntu import format_name
from core_models.synth import SYNTH_ACTIONS, SYNTH_CLASSES, setup_for

ROOT = Path(__file__).parents[1]


def run(script: str, **state) -> AppTest:
    at = AppTest.from_file(str(ROOT / script), default_timeout=120)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()
    assert not at.exception, at.exception
    return at


def test_router_shows_the_default_clip_with_its_label():
    at = run("app.py")
    assert at.title[0].value.lower() == SYNTH_CLASSES[0].lower()
    assert len(at.get("video")) == 1 and len(at.get("image")) == 1
    assert "Ground truth" in at.markdown[0].value
    assert at.sidebar.selectbox[0].label == "Class"
    assert at.session_state["clip_name"] == format_name(setup_for(1, 1), 1, 1, 1, SYNTH_ACTIONS[0])


@pytest.mark.parametrize("label", [4, 12])
@pytest.mark.parametrize("skeleton", [True, False])
def test_clip_page_shows_the_chosen_clip(label, skeleton):
    name = format_name(setup_for(7, 2), 3, 7, 2, SYNTH_ACTIONS[label])
    at = run("pages/clip.py", clip_name=name, show_skeleton=skeleton)
    assert at.title[0].value.lower() == SYNTH_CLASSES[label].lower()
    assert name in at.caption[0].value
    at.slider[0].set_value(3).run()
    assert not at.exception and at.slider[0].value == 3 and len(at.image) == 1
