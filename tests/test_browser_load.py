"""Ten browser sessions at once on one fresh server: different clips and models, no error, memory bounded.

Real Chromium through Playwright (as tests/test_browser.py), ten pages of one browser. Each page
picks its own synthetic clip and shipped model in the sidebar while the others are still
running, so the server runs ten scripts, loads ten models and renders ten clips concurrently.
The server's resident memory is sampled throughout; the server must also listen on the loopback
interface only (``.streamlit/config.toml``: ``server.address = "localhost"``).
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.request import urlopen

import pytest
from test_browser import CHROMIUM, FLAGS, ROOT, no_exception

from core_models.bench_app import free_port
from core_models.synth import SYNTH_CLASSES

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium on this machine")

MODELS = [
    "part_attention-cs", "separable_sta-cv", "temporal_granularity-cs", "glimpse_clouds-cv", "i3d-cs",
    "i3d_nl-cs", "skeleton_lstm-cs", "soft_attention_lstm-cv", "stn-cs", "two_stream-cv",
]  # fmt: skip
MAX_SERVER_MIB = 3072


@contextlib.contextmanager
def server():
    """A fresh `streamlit run serve.py` (as `make app`) with the project's config; yields (url, process)."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "serve.py"), "--server.headless", "true",
         "--server.port", str(port)],
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
        yield url, proc, port
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def listening_addresses(port: int) -> set[str]:
    """Local addresses of the sockets listening on ``port`` (from /proc/net/tcp and tcp6)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                address, hex_port = local.rsplit(":", 1)
                if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                    found.add(address)
    return found


LOOPBACK = {"0100007F", "00000000000000000000000001000000"}  # 127.0.0.1 and ::1 as /proc writes them


def test_ten_sessions_on_different_clips_and_models_at_once():
    from playwright.sync_api import sync_playwright

    with server() as (url, proc, port), sync_playwright() as p:
        assert listening_addresses(port) and listening_addresses(port) <= LOOPBACK, listening_addresses(port)
        peak, stop = [rss_mib(proc.pid)], threading.Event()

        def sample() -> None:
            while not stop.is_set():
                with contextlib.suppress(OSError):
                    peak.append(rss_mib(proc.pid))
                time.sleep(0.25)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            pages = []
            for _ in MODELS:  # ten sessions, all loading at once
                page = browser.new_page(viewport={"width": 1300, "height": 900})
                page.goto(url, wait_until="commit")
                pages.append(page)
            for i, (page, model) in enumerate(zip(pages, MODELS)):  # each picks its clip and model
                sidebar = page.locator("[data-testid=stSidebar]")
                boxes = sidebar.locator("[data-testid=stSelectbox] input")
                boxes.first.wait_for(timeout=120_000)
                boxes.first.click()
                boxes.first.fill(SYNTH_CLASSES[i + 1])
                page.keyboard.press("Enter")
                page.wait_for_selector(f"h1:has-text('{SYNTH_CLASSES[i + 1].capitalize()}')", timeout=120_000)
                boxes.last.click()
                boxes.last.fill(model)
                page.keyboard.press("Enter")
            for i, (page, model) in enumerate(zip(pages, MODELS)):
                want = f"Groundtruth: {SYNTH_CLASSES[i + 1].lower()} - Prediction:"
                page.get_by_text(want).first.wait_for(timeout=180_000)
                page.get_by_text(f"{model.rsplit('-', 1)[0]} · cpu preset").first.wait_for(timeout=60_000)
                deadline = time.monotonic() + 120
                while page.locator("[data-testid=stStatusWidget]").count() and time.monotonic() < deadline:
                    page.wait_for_timeout(250)
                no_exception(page)
                assert page.locator("[data-testid=stAlert]").filter(has_text="Could not").count() == 0
        finally:
            stop.set()
            sampler.join()
            browser.close()
        print(f"server resident memory: {peak[0]:.0f} MiB at start, {max(peak):.0f} MiB peak")
        assert max(peak) < MAX_SERVER_MIB, f"the server reached {max(peak):.0f} MiB"
