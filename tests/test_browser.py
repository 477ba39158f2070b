"""The app in a real browser: Chromium (Debian's, installed by .ci/run) driven by Playwright.

Catches what AppTest cannot: AppTest re-runs only the page script, while a browser re-runs the
router too, which is where the shared sidebar lives. Screenshots go to ``artifacts/``.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.request import urlopen

import pytest

ROOT = Path(__file__).parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]  # fmt: skip

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no Chromium on this machine (.ci/run installs Debian's chromium)"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def streamlit_server():
    """A fresh `streamlit run app.py` on a free port; yields its URL."""
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless", "true",
         "--server.port", str(port), "--browser.gatherUsageStats", "false"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                if urlopen(f"{url}/_stcore/health", timeout=1).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("the streamlit server did not start within 60 s")
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture(scope="module")
def app_url():
    with streamlit_server() as url:
        yield url


SHOTS = ROOT / "artifacts" / "screenshots"
# url path -> text the page shows once it has run
PAGES = {
    "": "Groundtruth: drink water",
    "parts": "Body-part attention",
    "spatiotemporal": "Spatio-temporal attention",
    "granularity": "Temporal granularity",
    "glimpses": "Glimpse Clouds",
    "explain": "Cost: Integrated Gradients",
    "compare": "Compare models",
    "failures": "Failures",
    "train": "Train",
    "playground": "Attention playground",
}

SCROLL_TO = {"compare": "Rows are the true class", "granularity": "Most attended granularity"}


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


def settle(page, timeout_s: float = 90) -> None:
    """Wait until the script has finished running (the running indicator is gone)."""
    page.wait_for_timeout(500)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if page.locator("[data-testid=stStatusWidget]").count() == 0:
            page.wait_for_load_state("networkidle")  # images, videos and charts fetched
            page.wait_for_function("Array.from(document.images).every(i => i.complete)", timeout=30_000)
            page.wait_for_timeout(1000)  # plotly draws after its data arrives
            return
        page.wait_for_timeout(250)
    pytest.fail("the page was still running after 90 s")


def no_exception(page) -> None:
    errors = page.locator("[data-testid=stException]")
    assert errors.count() == 0, errors.first.inner_text()


@pytest.mark.parametrize("path", list(PAGES))
def test_every_page_runs_without_exception(browser, app_url, path):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{app_url}/{path}", wait_until="networkidle")
    page.get_by_text(PAGES[path]).first.wait_for(timeout=90_000)
    settle(page)
    no_exception(page)
    if path in SCROLL_TO:  # the page's main figure, for the README's screenshot
        page.get_by_text(SCROLL_TO[path]).first.scroll_into_view_if_needed()
        page.wait_for_timeout(1000)
    page.screenshot(path=str(SHOTS / f"{path or 'clip'}.png"))
    page.close()


def test_a_confusion_cell_opens_its_clip_in_the_inspector(browser, app_url):
    import pandas as pd

    from viz.confusion import cell_clips, commonest_mistake, confusion_from_table

    table = pd.read_parquet(ROOT / "checkpoints/part_attention-cs/eval/test/predictions.parquet")
    truth, pred = commonest_mistake(confusion_from_table(table, 14))
    first = cell_clips(table, truth, pred)["clip"].iloc[0]
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{app_url}/compare", wait_until="networkidle")
    page.get_by_text("Clips behind a cell").first.wait_for(timeout=90_000)
    settle(page)
    page.get_by_role("button", name="Open in Clip").first.click()
    page.wait_for_selector(f"text={first}", timeout=90_000)  # the clip page's caption names the clip
    settle(page)
    no_exception(page)
    title = page.locator("h1").first.inner_text().lower()
    assert title == table.loc[table["clip"] == first, "label_name"].iloc[0].lower()
    page.close()


def test_sidebar_changes_the_clip_and_the_pages_follow(browser, app_url):
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(app_url, wait_until="networkidle")
    page.wait_for_selector("h1:has-text('Drink water')", timeout=90_000)
    page.wait_for_selector("video", timeout=60_000)  # encoded after the title is drawn
    settle(page)
    assert page.locator("video").count() == 1

    sidebar = page.locator("[data-testid=stSidebar]")
    box = sidebar.locator("[data-testid=stSelectbox] input").first
    box.click()
    box.fill("standing")
    page.keyboard.press("Enter")
    page.wait_for_selector("h1:has-text('Standing up')", timeout=60_000)
    sidebar.get_by_text("C002").click()
    page.wait_for_selector("text=camera C002", timeout=60_000)
    sidebar.get_by_text("Skeleton overlay").click()
    settle(page)
    no_exception(page)
    assert page.locator("h1").first.inner_text().startswith("Standing up")
    page.screenshot(path=str(SHOTS / "clip-changed.png"))

    sidebar.get_by_text("Temporal granularity").click()  # another page keeps the sidebar's clip
    page.get_by_text("Groundtruth: standing up").first.wait_for(timeout=90_000)
    settle(page)
    no_exception(page)
    page.close()


def test_a_deep_link_to_a_page_on_a_fresh_server_gets_the_router(browser):
    with streamlit_server() as url:  # nothing has run app.py yet
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(f"{url}/failures", wait_until="networkidle")
        page.get_by_text("Failures").first.wait_for(timeout=90_000)
        settle(page)
        no_exception(page)
        nav = page.locator("[data-testid=stSidebarNav]")
        assert nav.get_by_text("Clip and prediction").count() == 1  # the router's menu, not file names
        assert page.locator("[data-testid=stSidebar]").get_by_text("Source").count() == 1
        page.close()


def test_an_upload_is_inspected_and_a_broken_one_is_refused_without_losing_it(browser, app_url, tmp_path):
    from core_models.synth.generate import render_clip, write_clip

    write_clip(render_clip("S002C001P003R001A002", size=(120, 160)), tmp_path)  # eat meal
    video, skeleton = tmp_path / "S002C001P003R001A002_rgb.avi", tmp_path / "S002C001P003R001A002.skeleton"
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(app_url, wait_until="networkidle")
    page.wait_for_selector("h1:has-text('Drink water')", timeout=90_000)
    settle(page)
    sidebar = page.locator("[data-testid=stSidebar]")
    sidebar.get_by_text("Upload", exact=True).click()
    settle(page)
    inputs = sidebar.locator("[data-testid=stFileUploaderDropzoneInput]")
    inputs.nth(0).set_input_files(str(video))
    settle(page)
    inputs.nth(1).set_input_files(str(skeleton))
    page.wait_for_selector("h1:has-text('S002C001P003R001A002_rgb')", timeout=90_000)
    page.get_by_text("Groundtruth: unknown - Prediction:").first.wait_for(timeout=90_000)
    settle(page)
    no_exception(page)
    page.screenshot(path=str(SHOTS / "upload.png"))

    broken = tmp_path / "broken.avi"
    broken.write_bytes(b"RIFF....AVI not a real video")
    inputs.nth(0).set_input_files(str(broken))  # replaces the video
    page.get_by_text("Upload refused").first.wait_for(timeout=90_000)
    settle(page)
    no_exception(page)
    assert page.locator("h1").first.inner_text() == "S002C001P003R001A002_rgb"  # the last good clip stays
    page.close()


def test_an_attribution_runs_with_a_progress_bar_and_shows_its_agreement(browser, app_url):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{app_url}/explain", wait_until="networkidle")
    page.get_by_role("button", name="Run Integrated Gradients").wait_for(timeout=90_000)
    settle(page)
    page.get_by_role("button", name="Run Integrated Gradients").click()
    page.get_by_text("rank agreement, parts").first.wait_for(timeout=120_000)
    settle(page)
    no_exception(page)
    page.screenshot(path=str(SHOTS / "explain-run.png"))
    page.close()
