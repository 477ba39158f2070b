"""``python -m core_models bench app``: the app's speed and memory in a real browser.

Starts the app the way ``make app`` does (``streamlit run serve.py`` on a free port), drives it
with Chromium through Playwright, and reads the server's resident memory from ``/proc``:

* **cold first page**: the first page of a fresh server, from the browser's request to the
  page fully drawn (script finished, images loaded, charts drawn);
* **first visit** and **revisit** of every page of the menu, clicked in the sidebar as a user
  does, in one browser session; revisits repeated ``repeats`` times (median and worst). A page
  whose view the sidebar's model lacks offers models that have it: the bench takes the first
  (its first visit then counts both clicks) and times the revisit with that model, and gives the
  server's part of each revisit (the page script's run, ``ADL_RUN_LOG``);
* **compare with 4 models**: the compare page with four evaluated models that share their
  classes, first (their evaluations not yet read) and again;
* **memory**: the server's RSS after the warm-up round and after each round of revisits (the
  growth per visit after warm-up), then after every page with every model of the sidebar;
* every request the browser made to a host other than this machine, every console error and
  every HTTP error response (none expected);
* the machine's load average at the start and the end (other work on the machine slows every
  figure down).

A page is "drawn" when Streamlit's script-state attribute says the run ended, no element is a
placeholder any more (widgets load their code on first use), every image is loaded and every
plotly chart has its SVG. Figures depend on the machine and its load; the
README records what this command printed and where.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from urllib.request import urlopen

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]  # fmt: skip
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
# Counts finished script runs: the app root's data-test-script-state goes back to "notRunning".
WATCH_RUNS = """
window.__runs = 0;
new MutationObserver(() => {
  const app = document.querySelector('[data-testid=stApp]');
  const state = app && app.getAttribute('data-test-script-state');
  if (state !== window.__lastState) {
    if (state === 'notRunning' && window.__lastState === 'running') window.__runs += 1;
    window.__lastState = state;
  }
}).observe(document, {subtree: true, attributes: true, childList: true});
"""
DRAWN = """() => {
  const app = document.querySelector('[data-testid=stApp]');
  if (!app || app.getAttribute('data-test-script-state') !== 'notRunning') return false;
  if (document.querySelector('[data-testid=stStatusWidget], [data-testid=stSkeleton]')) return false;
  if (!Array.from(document.images).every(i => i.complete)) return false;
  return Array.from(document.querySelectorAll('[data-testid=stPlotlyChart]'))
    .every(c => c.querySelector('.main-svg'));
}"""


def chromium_path() -> str | None:
    """Debian's Chromium (never a downloaded one)."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def streamlit_server(
    entry: str = "serve.py",
    *,
    cwd: Path = ROOT,
    timeout_s: float = 90,
    log: Path | None = None,
    env: dict[str, str] | None = None,
) -> Iterator[tuple[str, subprocess.Popen]]:
    """A fresh ``streamlit run ENTRY`` on a free port; yields (its URL, its process)."""
    port = free_port()
    out = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115 (closed below)
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(cwd / entry), "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
        cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if urlopen(f"{url}/_stcore/health", timeout=1).read() == b"ok":
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the streamlit server did not start (exit {server.poll()})") from None
                time.sleep(0.2)
        yield url, server
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        if log:
            out.close()


class RunLog:
    """The page runs the server logged (``ADL_RUN_LOG``, see ``app_support.process.timed_run``)."""

    def __init__(self, path: Path) -> None:
        self.path, self.offset = path, 0

    def seconds(self) -> float:
        """Seconds of the runs logged since the last call."""
        try:
            with open(self.path, encoding="utf-8") as f:
                f.seek(self.offset)
                lines = f.read().splitlines()
                self.offset = f.tell()
        except OSError:
            return float("nan")
        return sum(float(line.split("\t")[1]) for line in lines if "\t" in line)


def rss_mib(pid: int) -> float:
    """Resident memory of process ``pid`` in MiB (Linux ``/proc``)."""
    with open(f"/proc/{pid}/status", encoding="utf-8") as f:
        kib = next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))
    return kib / 1024


class Watcher:
    """Records what a browser page did that the app must never do: external requests, console
    errors, HTTP errors."""

    def __init__(self) -> None:
        self.external: list[str] = []
        self.console_errors: list[str] = []
        self.http_errors: list[str] = []

    def attach(self, page) -> None:
        def on_request(request) -> None:
            host = urlparse(request.url).hostname or ""
            if request.url.startswith(("http:", "https:", "ws:", "wss:")) and host not in LOOPBACK:
                self.external.append(request.url)

        page.on("request", on_request)
        page.on("console", lambda m: m.type == "error" and self.console_errors.append(m.text))
        page.on("response", lambda r: r.status >= 400 and self.http_errors.append(f"{r.status} {r.url}"))
        # Nothing may leave the machine: a request to another host is refused, and recorded above.
        page.route(
            "**/*",
            lambda route: (
                route.continue_()
                if (urlparse(route.request.url).hostname or "") in LOOPBACK
                else route.abort()
            ),
        )


def wait_drawn(page, runs_before: int | None = None, timeout_s: float = 180) -> None:
    """Wait until a script run that started after ``runs_before`` finished runs ended and the
    page is drawn (when no run starts within 10 s, e.g. a click on the page already shown, the
    page as it is counts)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    if runs_before is not None:
        try:
            page.wait_for_function(
                f"window.__runs > {runs_before} || window.__lastState === 'running'",
                timeout=10_000,
                polling=20,
            )
            page.wait_for_function(f"window.__runs > {runs_before}", timeout=timeout_s * 1000, polling=20)
        except PlaywrightTimeout:
            if page.evaluate("window.__lastState") == "running":
                raise
    page.wait_for_function(DRAWN, timeout=timeout_s * 1000, polling=20)


def runs(page) -> int:
    return int(page.evaluate("window.__runs"))


def timed(page, action, timeout_s: float = 180) -> float:
    """Seconds from ``action()`` to the page drawn after the run it starts."""
    before = runs(page)
    start = time.perf_counter()
    action()
    wait_drawn(page, before, timeout_s)
    return time.perf_counter() - start


def offered_model(page):
    """The first "Use <model>" button a page shows when the sidebar's model lacks its view, or None."""
    offers = page.locator("[data-testid=stMain]").get_by_role("button", name="Use ")
    return offers.first if offers.count() else None


def menu(page) -> list[str]:
    """The titles of the pages in the sidebar's menu, in order."""
    links = page.locator("[data-testid=stSidebarNav] a")
    # a link's text is its icon's ligature name, then its title
    return [links.nth(i).inner_text().strip().splitlines()[-1].strip() for i in range(links.count())]


def click_page(page, title: str) -> None:
    page.locator("[data-testid=stSidebarNav] a").filter(has_text=title).first.click()


def selected_option(scope, label: str) -> str:
    """The option a selectbox labelled ``label`` inside the locator ``scope`` shows."""
    box = scope.locator("[data-testid=stSelectbox]").filter(has_text=label).first
    field = box.locator("input")
    return field.first.input_value() if field.count() else box.inner_text().splitlines()[-1]


def choose(page, label: str, option: str, scope: str = "[data-testid=stSidebar]") -> None:
    """Pick ``option`` in the selectbox labelled ``label`` inside ``scope``."""
    if selected_option(page.locator(scope), label) == option:
        return  # already chosen: no run would follow
    box = page.locator(f"{scope} [data-testid=stSelectbox]").filter(has_text=label).first
    field = box.locator("input").first
    field.click()
    field.fill(option)
    page.get_by_role("option", name=option, exact=True).first.click()


def add_to_multiselect(page, label: str, option: str) -> None:
    box = page.locator("[data-testid=stMultiSelect]").filter(has_text=label).first
    field = box.locator("input").first
    field.click()
    field.fill(option)
    page.get_by_role("option").filter(has_text=option).first.click()
    page.keyboard.press("Escape")


def compare_models(k: int = 4) -> list[str]:
    """``k`` evaluated models of the most common (classes, data, split): the compare page's subject."""
    from collections import Counter

    from app_support.models import list_models, metrics

    found = []
    for e in list_models(ROOT / "checkpoints", ROOT / "runs"):
        m = metrics(e) or {}
        if m.get("class_names"):
            found.append((e.name, (tuple(m["class_names"]), e.data, e.protocol)))
    if not found:
        return []
    common = Counter(group for _, group in found).most_common(1)[0][0]
    return [name for name, group in found if group == common][:k]


def shipped_models() -> list[str]:
    """The names of the shipped checkpoints, as the sidebar lists them."""
    from app_support.models import list_models

    return [e.name for e in list_models(ROOT / "checkpoints", ROOT / "runs") if e.shipped]


def bench_threads(repeats: int = 7) -> dict[str, Any]:
    """One inspection of the temporal-granularity checkpoint (else the first with attention) with the
    app's torch threads (``app_support.process.torch_threads``) and with one per core, alternated,
    under whatever load the machine has: median and worst seconds of each."""
    import torch

    from app_support.models import list_models
    from app_support.process import torch_threads
    from core_models.inspect import inspect_clip, load_model
    from core_models.synth.generate import dataset_clip

    entries = [e for e in list_models(ROOT / "checkpoints", ROOT / "runs") if e.attention_kinds]
    if not entries:
        return {}
    entry = next((e for e in entries if "segments" in e.attention_kinds), entries[0])
    loaded, clip = load_model(entry.checkpoint, entry.name), dataset_clip("S001C002P003R001A002")
    counts = {"app": torch_threads(), "one per core": os.cpu_count() or 1}
    times: dict[str, list[float]] = {k: [] for k in counts}
    before = torch.get_num_threads()
    try:
        inspect_clip(loaded, clip)  # one-off set-up
        for _ in range(repeats):
            for k, n in counts.items():
                torch.set_num_threads(n)
                times[k].append(inspect_clip(loaded, clip).seconds)
    finally:
        torch.set_num_threads(before)
    out: dict[str, Any] = {"model": entry.name}
    for k, n in counts.items():
        out[f"{k} ({n})"] = f"median {statistics.median(times[k]):.2f} s, worst {max(times[k]):.2f} s"
    return out


def _summary(times: list[float], server: list[float] | None = None) -> dict[str, float]:
    out = {"median_s": round(statistics.median(times), 2), "max_s": round(max(times), 2)}
    if server:
        out["server_median_s"] = round(statistics.median(server), 2)
    return out


def _growth(rss: list[float], visits_per_round: int) -> float:
    """MiB per visit from the second to the last round (the first round is the warm-up)."""
    rounds = len(rss) - 2
    return (rss[-1] - rss[1]) / max(rounds * visits_per_round, 1) if rounds > 0 else float("nan")


def bench_app(
    repeats: int = 5, all_models: bool = True, entry: str = "serve.py", reloads: int = 3
) -> dict[str, Any]:
    """Measure the app in Chromium (see the module docstring); returns the figures.

    Args:
        repeats: rounds of revisits of every page.
        all_models: also visit every page with every shipped model (minutes).
        entry: the script ``streamlit run`` starts (``app.py`` when ``entry`` is missing).
        reloads: rounds of every page opened by its URL (a new browser session each time).
    """
    from playwright.sync_api import sync_playwright

    from core_models.bench import machine

    chromium = chromium_path()
    if chromium is None:
        raise RuntimeError("no Chromium on this machine (Debian: apt-get install chromium)")
    entry = entry if (ROOT / entry).is_file() else "app.py"
    out: dict[str, Any] = {"machine": machine(), "load average": {"at start": round(os.getloadavg()[0], 1)}}
    watcher = Watcher()
    started = time.perf_counter()
    import tempfile

    tmp = tempfile.TemporaryDirectory(prefix="bench-app-")
    runlog = RunLog(Path(tmp.name) / "runs.log")
    with (
        tmp,
        streamlit_server(entry, env={"ADL_RUN_LOG": str(runlog.path)}) as (url, server),
        sync_playwright() as p,
    ):
        out["server"] = {"entry": entry, "start_s": round(time.perf_counter() - started, 1),
                         "rss_idle_mib": round(rss_mib(server.pid))}  # fmt: skip
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        context.add_init_script(WATCH_RUNS)
        page = context.new_page()
        watcher.attach(page)
        mem = lambda: rss_mib(server.pid)  # noqa: E731

        start = time.perf_counter()
        page.goto(url)
        wait_drawn(page, 0)
        out["cold first page"] = {"seconds": round(time.perf_counter() - start, 2), "rss_mib": round(mem())}

        titles = menu(page)
        first, grew = {}, {}
        for t in titles[1:] + titles[:1]:
            before = mem()
            seconds = timed(page, lambda t=t: click_page(page, t))
            offer = offered_model(page)
            if offer is not None:  # the sidebar's model lacks the view: one click to a model that has it
                seconds += timed(page, lambda offer=offer: offer.click())
            first[t] = round(seconds, 2)
            grew[t] = round(mem() - before)
        out["first visit_s"] = first
        out["memory growth on first visit_mib"] = grew

        rss, again, on_server = [mem()], {t: [] for t in titles}, {t: [] for t in titles}
        runlog.seconds()
        for _ in range(repeats):
            for i, t in enumerate(titles):
                seconds = timed(page, lambda t=t: click_page(page, t))
                offer = offered_model(page)
                if offer is not None:  # take a model with the view, leave, and come back to time it
                    timed(page, lambda offer=offer: offer.click())
                    timed(page, lambda i=i: click_page(page, titles[(i + 1) % len(titles)]))
                    runlog.seconds()
                    seconds = timed(page, lambda t=t: click_page(page, t))
                again[t].append(seconds)
                on_server[t].append(runlog.seconds())
            rss.append(mem())
        out["revisit"] = {t: _summary(v, on_server[t]) for t, v in again.items()}
        worst = max(again, key=lambda t: max(again[t]))
        out["revisit, all pages"] = {**_summary([x for v in again.values() for x in v]), "slowest": worst}
        out["memory, revisits in one session"] = {
            "rounds_mib": [round(r) for r in rss], "growth_per_visit_mib": round(_growth(rss, len(titles)), 3)
        }  # fmt: skip

        chosen = compare_models(4)
        compare = next((t for t in titles if "ompare" in t), None)
        if compare and len(chosen) == 4:
            timed(page, lambda: click_page(page, compare))
            box = page.locator("[data-testid=stMultiSelect]").filter(has_text="Models").first.inner_text()
            added = [
                timed(page, lambda n=n: add_to_multiselect(page, "Models", n)) for n in chosen if n not in box
            ]
            again4, server4 = [], []
            for _ in range(3):  # from another page and back, as a revisit
                timed(page, lambda: click_page(page, titles[0]))
                runlog.seconds()
                again4.append(timed(page, lambda: click_page(page, compare)))
                server4.append(runlog.seconds())
            out["compare, 4 models"] = {
                "models": ", ".join(chosen), "adding the last_s": round(added[-1], 2) if added else None,
                **_summary(again4, server4),
            }  # fmt: skip

        if reloads:  # every page by its URL, as a shared link opens it: a new session each time
            paths = [
                link.get_attribute("href") for link in page.locator("[data-testid=stSidebarNav] a").all()
            ]
            rss = [mem()]
            for _ in range(reloads):
                for href in paths:
                    page.goto(href if href.startswith("http") else url + href)
                    wait_drawn(page, 0)  # a new document: its run counter starts at 0
                rss.append(mem())
            growth = round(_growth(rss, len(paths)), 3)
            out["memory, pages opened by their URL"] = {"rounds_mib": [round(r) for r in rss],
                                                        "growth_per_visit_mib": growth}  # fmt: skip

        if all_models:
            start = time.perf_counter()
            names = shipped_models()
            for name in names:
                timed(page, lambda name=name: choose(page, "Model", name))
                for t in titles:
                    timed(page, lambda t=t: click_page(page, t))
            out["every page with every model"] = {
                "models": len(names), "pages": len(titles),
                "minutes": round((time.perf_counter() - start) / 60, 1), "rss_mib": round(mem()),
            }  # fmt: skip
        browser.close()
    out["torch threads"] = bench_threads()
    out["load average"]["at end"] = round(os.getloadavg()[0], 1)
    seen = watcher.external + watcher.console_errors + watcher.http_errors
    out["offline"] = {
        "external_requests": len(watcher.external), "console_errors": len(watcher.console_errors),
        "http_errors": len(watcher.http_errors), "examples": "; ".join(seen[:4]) or "none",
    }  # fmt: skip
    return out
