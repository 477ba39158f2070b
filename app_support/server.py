"""What ``serve.py`` adds around Streamlit's server: one script in the page HTML, and a warm-up.

**Deep links without 404s.** Streamlit's page (its ``index.html``, the same for every URL)
does not know where the app's root is, so on a link such as ``/compare?...`` it first asks
``/compare/_stcore/health`` and ``/compare/_stcore/host-config`` (the page's path might be the
app's base path), gets two 404s (logged in the browser's console), then tries ``/``.
:class:`BaseUrlScript` writes the root into the page before Streamlit's code reads it
(``window.__streamlit.BACKEND_BASE_URL``, Streamlit's setting for an app whose root differs
from the page's path), so the page asks the right place first.

**Warm-up.** :func:`lifespan` sets the process up (:mod:`app_support.process`) and loads what
the first page shows (:func:`app_support.state.warm_up`) before the server accepts its first
connection, so the first visitor does not wait for torch's import and the first model.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import logging

from streamlit import config

LOG = logging.getLogger("adl-attention-lab")


def base_url_script() -> bytes:
    """The ``<script>`` that tells Streamlit's page where the app's root is."""
    base = str(config.get_option("server.baseUrlPath") or "").strip("/")
    root = f"/{base}/" if base else "/"
    js = (
        "window.__streamlit = Object.assign({}, window.__streamlit, "
        f"{{BACKEND_BASE_URL: window.location.origin + {json.dumps(root)}}});"
    )
    return f"<script>{js}</script>".encode()


def inject(html: bytes, script: bytes) -> bytes:
    """``html`` with ``script`` first in its ``<head>`` (unchanged when it has none)."""
    at = html.find(b"<head>")
    return html if at < 0 else html[: at + 6] + script + html[at + 6 :]


class BaseUrlScript:
    """ASGI middleware: puts :func:`base_url_script` into every HTML page the server sends."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope.get("method") != "GET":
            await self.app(scope, receive, send)
            return
        start: dict = {}
        chunks: list[bytes] = []

        async def send_html(message) -> None:
            if message["type"] == "http.response.start":
                headers = dict(message.get("headers") or [])
                if message.get("status") == 200 and headers.get(b"content-type", b"").startswith(
                    b"text/html"
                ):
                    start.update(message)  # hold it: the length changes
                    return
            elif message["type"] == "http.response.body" and start:
                chunks.append(message.get("body", b""))
                if message.get("more_body"):
                    return
                headers = dict(start.get("headers") or [])
                body = b"".join(chunks)
                if headers.get(b"content-encoding") == b"gzip":
                    body = gzip.decompress(body)
                body = inject(body, base_url_script())
                drop = {b"content-length", b"content-encoding", b"etag"}
                kept = [(k, v) for k, v in start.get("headers") or [] if k.lower() not in drop]
                await send({**start, "headers": [*kept, (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
                return
            await send(message)

        await self.app(scope, receive, send_html)


@contextlib.asynccontextmanager
async def lifespan(_app):
    """Warm the process up before the server opens (errors are logged, never fatal)."""

    def warm() -> None:
        from app_support import process

        process.configure()
        try:
            from app_support import state

            state.warm_up()
        except Exception:  # a broken checkpoint must not keep the app from starting
            LOG.exception("warm-up failed; the pages will load what they need themselves")
        process.release()

    await asyncio.to_thread(warm)
    yield
