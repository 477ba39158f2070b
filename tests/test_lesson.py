"""The lesson export and the teaching player: one self-contained HTML file with every view of a clip,
opened in real Chromium with every request outside the file refused; the player's slow motion, loop
and frame stepping driven in the browser; the Lesson page (AppTest)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from viz.lesson import VIEWS, lesson_plan
from viz.player import SPEEDS, player_page

ROOT = Path(__file__).parents[1]
CLIP = "S001C002P003R001A002"  # eat meal
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]  # fmt: skip
EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//|url\(\s*["']?(?:https?:)?//|@import""", re.I)


def test_the_plan_takes_each_view_from_the_first_model_that_draws_it():
    models = [("pa", ("parts",)), ("sta", ("spatial", "temporal")), ("tg", ("segments", "granularity")),
              ("sta2", ("spatial",)), ("gc", ("glimpses", "assignment"))]  # fmt: skip
    assert lesson_plan(models) == {
        "parts": "pa",
        "spatiotemporal": "sta",
        "granularity": "tg",
        "glimpses": "gc",
    }
    # a model with spatial maps and temporal weights draws that view before one with temporal
    # weights alone, even when the latter comes first; with no full match, some will do
    both = [("pa", ("parts", "temporal")), ("sta", ("spatial", "temporal"))]
    assert lesson_plan(both)["spatiotemporal"] == "sta"
    assert lesson_plan(both[:1])["spatiotemporal"] == "pa"
    assert lesson_plan([("i3d", ())]) == {} and set(VIEWS) == {
        "parts",
        "spatiotemporal",
        "granularity",
        "glimpses",
    }


@pytest.fixture(scope="module")
def lesson_file(tmp_path_factory) -> Path:
    from core_models.cli import main

    out = tmp_path_factory.mktemp("lesson") / "lesson.html"
    assert main(["lesson", "--clip", CLIP, "--out", str(out)]) == 0
    return out


def test_the_lesson_holds_every_view_and_nothing_outside_the_file(lesson_file):
    page = lesson_file.read_text(encoding="utf-8")
    for title in (
        "The clip and the prediction",
        *(t for _, t in VIEWS.values()),
        "Attributions: why this answer",
    ):
        assert f"<h2>{title}</h2>" in page, title
    assert page.count('class="adl-player"') == 4  # the clip, parts, spatial map, glimpses
    assert page.count("Plotly.newPlot") >= 6 and "data:image/png;base64," in page  # charts, the slide
    # the default model, part attention trained on v2, classifies from its attended RGB alone: no
    # fused streams to add up (a fused model's arithmetic: test_fusion)
    assert "adds the streams" not in page
    assert " and not " in page  # why X and not Y
    # the spatial map's place on the parts that carry the action, with its baselines
    assert "of the map's weight lies on the cells holding the parts" in page and "always the centre" in page
    # every other attention view says what it is compared with too (numbers: the test below)
    for phrase in (
        "of the weight (equal weights:",
        "of the step weights (equal weights:",
        "of each row's weight on the interval",
        "of the glimpse area lies on the person's box",
    ):
        assert phrase in page, phrase  # fmt: skip
    from plotly.offline import get_plotlyjs

    plotly_js = get_plotlyjs()
    assert page.count(plotly_js) == 1  # inlined once (its own links are checked in the browser)
    ours = page.replace(plotly_js, "")
    assert not EXTERNAL.search(ours), EXTERNAL.search(ours)  # no src/href/url() leaves the file
    assert lesson_file.stat().st_size < 12 * 2**20


def test_each_views_share_on_the_truth_is_the_scorers_with_its_baselines():
    """The lesson's captions give each attention's share on this clip's truth with the numbers the
    shared scorers give (parts table, temporal and segment scores, glimpse person share)."""
    from app_support.sources import load_source
    from core_models.attention_scores import segment_scores, temporal_scores
    from core_models.inspect import inspect_clip, load_model
    from viz import lesson
    from viz.glimpses import person_share
    from viz.parts import part_weights_table

    clip = load_source({"kind": "synthetic", "name": CLIP})
    start, end = clip.truth.interval
    span = (start / clip.num_frames, end / clip.num_frames)

    def inspect(name):
        return inspect_clip(load_model(ROOT / "checkpoints" / name / "model.pt", name), clip)

    pa, sta, tg, gc = (inspect(n) for n in ("part_attention-cs", "separable_sta-cs",
                                               "temporal_granularity-cs", "glimpse_clouds-cs"))  # fmt: skip
    table = part_weights_table(list(pa.part_names), np.asarray(pa.attention["parts"]), clip.truth)
    on = float(table.loc[table["ground truth"], "weight"].sum())
    text = lesson.parts_section(clip, pa, "pa").caption
    assert f"get {on:.2f} of the weight (equal weights: {table['ground truth'].mean():.2f}" in text
    here = temporal_scores(sta.attention["temporal"], span)
    text = lesson.spatiotemporal_section(clip, sta, "sta").caption
    assert f"holds {here['share']:.2f} of the step weights (equal weights: {here['uniform']:.2f}" in text
    _, mean = segment_scores(tg.attention["segments"], span, tg.fields)
    text = lesson.granularity_section(clip, tg, "tg").caption
    assert (
        f"put {mean['share']:.2f} of each row's weight" in text
        and f"the best segment: {mean['best']:.2f}" in text
    )
    share = person_share(gc.attention["glimpses"], clip.joints2d, gc.view_boxes, gc.frame_index)
    text = lesson.glimpses_section(clip, gc, "gc").caption
    assert f"{share['share']:.2f} of the glimpse area lies on the person's box" in text
    assert f"random: {share['uniform']:.2f}" in text


pytestmark_browser = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium on this machine")


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


def _offline_page(browser, url: str):
    """A page that refuses (and records) every request that is not the file itself or a data URI."""
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    outside, errors = [], []

    def route(r):
        if r.request.url.startswith(("file:", "data:")):
            r.continue_()
        else:
            outside.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(url, wait_until="load")
    return page, outside, errors


@pytestmark_browser
def test_the_lesson_opens_offline_in_chromium(browser, lesson_file):
    page, outside, errors = _offline_page(browser, lesson_file.as_uri())
    page.wait_for_function(
        "document.querySelectorAll('.js-plotly-plot .main-svg').length >= 6", timeout=60_000
    )
    assert page.locator(".adl-player[data-ready='1']").count() == 4
    assert page.evaluate("Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
    first = page.locator(".adl-player").first
    first.locator("[data-act=next]").click()
    assert first.get_attribute("data-frame") == "1" and "frame 1 /" in first.inner_text()
    page.wait_for_timeout(1500)  # plotly's second layout pass (automatic margins)
    (ROOT / "artifacts" / "screenshots").mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ROOT / "artifacts" / "screenshots" / "lesson.png"), full_page=False)
    assert outside == [] and errors == []


@pytestmark_browser
def test_the_player_steps_slows_down_and_loops(browser, tmp_path):
    frames = np.zeros((30, 24, 32, 3), np.uint8)
    frames[:, :, :, 0] = np.arange(30)[:, None, None] * 8  # each frame its own red
    (tmp_path / "player.html").write_text(player_page(frames, 30.0), encoding="utf-8")
    page, outside, errors = _offline_page(browser, (tmp_path / "player.html").as_uri())
    player = page.locator(".adl-player")
    page.wait_for_function("document.querySelector('.adl-player').dataset.ready === '1'")
    frame = lambda: int(player.get_attribute("data-frame"))  # noqa: E731
    player.locator("[data-act=prev]").click()
    assert frame() == 0  # clamped at the first frame
    for _ in range(3):
        player.locator("[data-act=next]").click()
    assert frame() == 3 and "frame 3 / 29" in player.inner_text()
    player.locator(".adl-seek").fill("28")
    assert frame() == 28
    player.press("ArrowLeft")
    assert frame() == 27
    # slow motion: at 0.1x a 30 fps clip shows 3 frames a second (a busy machine only shows fewer)
    options = player.locator(".adl-speed option").all_inner_texts()
    assert [float(o.rstrip("×")) for o in options] == list(SPEEDS)
    player.locator("[data-act=first]").click()
    player.locator(".adl-speed").select_option("0.1")
    player.locator("[data-act=play]").click()
    page.wait_for_timeout(1500)
    assert 1 <= frame() <= 6
    player.locator("[data-act=play]").click()  # pause
    paused = frame()
    page.wait_for_timeout(500)
    assert frame() == paused and player.get_attribute("data-playing") == ""
    # loop: from the last frame at 2x it comes round to the start; without loop it stops at the end
    player.locator(".adl-speed").select_option("2")
    player.locator(".adl-seek").fill("29")
    player.locator("[data-act=play]").click()
    page.wait_for_function("Number(document.querySelector('.adl-player').dataset.frame) < 20", timeout=10_000)
    player.locator("[data-act=play]").click()
    player.locator(".adl-loop").uncheck()
    player.locator(".adl-seek").fill("25")
    player.locator("[data-act=play]").click()
    page.wait_for_function("document.querySelector('.adl-player').dataset.playing === ''", timeout=10_000)
    assert frame() == 29 and outside == [] and errors == []


def test_the_lesson_page_plans_builds_and_offers_the_file():
    import app_support.lesson as lesson

    at = AppTest.from_file(str(ROOT / "pages/lesson.py"), default_timeout=300)
    at.session_state["model_name"] = "part_attention-cs"
    at.run()
    assert not at.exception, at.exception
    plan = at.dataframe[0].value.set_index("view")["drawn by"]
    assert plan["Body-part attention"] == "part_attention-cs"
    assert plan["Spatio-temporal attention"].endswith("-cs") and plan["Glimpse Clouds"].endswith("-cs")
    assert not at.get("download_button")  # nothing is built before the button
    at.button(key="lesson_build").click().run()
    assert not at.exception, at.exception
    (button,) = at.get("download_button")
    assert "Download the lesson (HTML" in button.proto.label
    (page,) = lesson._LESSONS.values()
    assert "<h2>Body-part attention</h2>" in page and "Plotly.newPlot" in page
