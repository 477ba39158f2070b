"""The app in a real browser: Chromium (Debian's, installed by .ci/run) driven by Playwright.

Catches what AppTest cannot: AppTest re-runs only the page script, while a browser re-runs the
router too, which is where the shared sidebar lives. Screenshots go to ``artifacts/``.
"""

from __future__ import annotations

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


@pytest.fixture(scope="module")
def app_url():
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


def test_sidebar_changes_the_clip_without_exceptions(app_url):
    from playwright.sync_api import sync_playwright

    shots = ROOT / "artifacts" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(app_url, wait_until="networkidle")
        page.wait_for_selector("h1:has-text('Drink water')", timeout=60_000)
        page.wait_for_selector("video", timeout=60_000)  # encoded after the title is drawn
        assert page.locator("video").count() == 1
        page.screenshot(path=str(shots / "clip.png"))

        box = page.locator("[data-testid=stSidebar] [data-testid=stSelectbox] input").first
        box.click()
        box.fill("standing")
        page.keyboard.press("Enter")
        page.wait_for_selector("h1:has-text('Standing up')", timeout=60_000)
        page.locator("[data-testid=stSidebar]").get_by_text("C002").click()
        page.wait_for_selector("text=camera C002", timeout=60_000)
        page.locator("[data-testid=stSidebar]").get_by_text("Skeleton overlay").click()
        page.wait_for_timeout(1500)
        assert page.locator("[data-testid=stException]").count() == 0
        assert page.locator("h1").first.inner_text().startswith("Standing up")
        page.screenshot(path=str(shots / "clip-changed.png"))
        browser.close()
