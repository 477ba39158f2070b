"""A clip player for teaching: slow motion, loop and frame stepping, in one offline HTML snippet.

``st.video`` plays a clip at its own speed and cannot step frame by frame; a browser's ``<video>``
can change speed but steps by time, not by frame. This player holds the frames themselves (JPEG
data URIs) and shows them one at a time, so every frame the model read can be stopped on, at any
speed, in any browser, with no request leaving the page:

* play / pause (space), previous / next frame (arrow keys), first frame, a scrubber;
* speed 0.1x, 0.25x, 0.5x, 1x or 2x of the clip's frame rate; loop on or off;
* ``frame i / T-1`` under the image, the numbering of the app's frame sliders.

:func:`player_fragment` is one player (several may share a page, e.g. the lesson export, with
:data:`PLAYER_CSS` and :data:`PLAYER_JS` included once); :func:`player_page` is a whole document
with one player (what the app embeds in an iframe). Arrays in, strings out.
"""

from __future__ import annotations

import base64
import html
import json

import cv2
import numpy as np

SPEEDS = (0.1, 0.25, 0.5, 1.0, 2.0)
PLAY = "&#x25B6;"  # glyphs every basic font has (U+25B6, U+25C0); pause reads "||"
JPEG_QUALITY = 85
MAX_HEIGHT = 360  # frames taller than this are shrunk before encoding (the page shows them smaller)

PLAYER_CSS = """
.adl-player{font:13px system-ui,sans-serif;max-width:100%;margin:0 0 8px 0}
.adl-player img{display:block;width:100%;height:auto;max-width:640px;background:#111;
  image-rendering:auto;border-radius:4px}
.adl-controls{display:flex;flex-wrap:wrap;gap:6px;align-items:center;margin-top:6px}
.adl-controls button{min-width:34px;padding:3px 8px;border:1px solid #bbb;border-radius:4px;
  background:#f6f6f6;cursor:pointer}
.adl-controls input[type=range]{flex:1 1 140px}
.adl-count{font-variant-numeric:tabular-nums;min-width:96px}
"""

# One script for every player on a page; it wires each .adl-player it has not seen yet.
PLAYER_JS = """
(function () {
  function wire(root) {
    if (root.dataset.ready) return;
    root.dataset.ready = "1";
    var frames = JSON.parse(root.querySelector("script.adl-data").textContent);
    var fps = parseFloat(root.dataset.fps) || 30;
    var img = root.querySelector("img"), seek = root.querySelector(".adl-seek");
    var count = root.querySelector(".adl-count"), play = root.querySelector("[data-act=play]");
    var speed = root.querySelector(".adl-speed"), loop = root.querySelector(".adl-loop");
    var i = 0, timer = null;
    function show(k) {
      i = Math.max(0, Math.min(frames.length - 1, k));
      img.src = frames[i];
      seek.value = i;
      count.textContent = "frame " + i + " / " + (frames.length - 1);
      root.dataset.frame = i;
    }
    function stop() {
      if (timer) { clearTimeout(timer); timer = null; }
      play.textContent = "\\u25B6"; root.dataset.playing = "";
    }
    function tick() {
      if (i >= frames.length - 1) { if (loop.checked) { show(0); } else { stop(); return; } }
      else { show(i + 1); }
      timer = setTimeout(tick, 1000 / (fps * parseFloat(speed.value)));
    }
    function start() {
      if (timer) return;
      if (i >= frames.length - 1 && !loop.checked) show(0);
      play.textContent = "||"; root.dataset.playing = "1";
      timer = setTimeout(tick, 1000 / (fps * parseFloat(speed.value)));
    }
    root.querySelector("[data-act=first]").onclick = function () { stop(); show(0); };
    root.querySelector("[data-act=prev]").onclick = function () { stop(); show(i - 1); };
    root.querySelector("[data-act=next]").onclick = function () { stop(); show(i + 1); };
    play.onclick = function () { timer ? stop() : start(); };
    seek.oninput = function () { stop(); show(parseInt(seek.value, 10)); };
    root.tabIndex = 0;
    root.onkeydown = function (e) {
      if (e.key === " ") { timer ? stop() : start(); e.preventDefault(); }
      else if (e.key === "ArrowLeft") { stop(); show(i - 1); e.preventDefault(); }
      else if (e.key === "ArrowRight") { stop(); show(i + 1); e.preventDefault(); }
    };
    show(parseInt(root.dataset.start || "0", 10));
    if (root.dataset.autoplay) start();
  }
  document.querySelectorAll(".adl-player").forEach(wire);
})();
"""


def jpeg_data_uris(
    frames: np.ndarray, quality: int = JPEG_QUALITY, max_height: int = MAX_HEIGHT
) -> list[str]:
    """Each uint8 (T, H, W, 3) RGB frame as a ``data:image/jpeg;base64,...`` URI (shrunk to
    ``max_height`` rows when taller)."""
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) == 0:
        raise ValueError(f"frames must be uint8 (T, H, W, 3) with T > 0, got {frames.dtype} {frames.shape}")
    H, W = frames.shape[1:3]
    size = None if max_height >= H else (int(round(W * max_height / H)), max_height)
    out = []
    for f in frames:
        if size is not None:
            f = cv2.resize(f, size, interpolation=cv2.INTER_AREA)
        ok, buf = cv2.imencode(
            ".jpg", cv2.cvtColor(f, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
        )
        if not ok:
            raise RuntimeError("OpenCV could not encode a frame as JPEG")
        out.append("data:image/jpeg;base64," + base64.b64encode(buf.tobytes()).decode("ascii"))
    return out


def player_fragment(
    frames: np.ndarray,
    fps: float,
    *,
    player_id: str = "player",
    caption: str = "",
    start: int = 0,
    speed: float = 1.0,
    loop: bool = True,
    autoplay: bool = False,
) -> str:
    """One player's HTML (needs :data:`PLAYER_CSS` and :data:`PLAYER_JS` once on the page).

    Args:
        frames: uint8 (T, H, W, 3) RGB.
        fps: the clip's frame rate (speed 1x).
        player_id: the element id (unique on the page).
        caption: a line under the controls.
        start: the frame shown first.
        speed: the initial speed, one of :data:`SPEEDS`.
        loop: loop on at first.
        autoplay: start playing once loaded.
    """
    if speed not in SPEEDS:
        raise ValueError(f"speed must be one of {SPEEDS}, got {speed}")
    uris = jpeg_data_uris(frames)
    start = int(np.clip(start, 0, len(uris) - 1))
    options = "".join(
        f'<option value="{s:g}"{" selected" if s == speed else ""}>{s:g}×</option>' for s in SPEEDS
    )
    data = json.dumps(uris).replace("</", "<\\/")
    pid = html.escape(player_id, quote=True)
    return (
        f'<div class="adl-player" id="{pid}" data-fps="{float(fps or 30.0):g}" data-start="{start}"'
        f"{' data-autoplay=1' if autoplay else ''}>"
        f'<img alt="frame" src="{uris[start]}">'
        '<div class="adl-controls">'
        '<button data-act="first" title="first frame">|&#x25C0;</button>'
        '<button data-act="prev" title="previous frame (left arrow)">&#x25C0; 1</button>'
        f'<button data-act="play" title="play / pause (space)">{PLAY}</button>'
        '<button data-act="next" title="next frame (right arrow)">1 &#x25B6;</button>'
        f'<input class="adl-seek" type="range" min="0" max="{len(uris) - 1}" value="{start}" '
        'aria-label="frame">'
        f'<span class="adl-count">frame {start} / {len(uris) - 1}</span>'
        f'<label>speed <select class="adl-speed">{options}</select></label>'
        f'<label><input class="adl-loop" type="checkbox"{" checked" if loop else ""}> loop</label>'
        "</div>"
        + (f'<div class="adl-caption">{html.escape(caption)}</div>' if caption else "")
        + f'<script type="application/json" class="adl-data">{data}</script>'
        "</div>"
    )


def player_page(frames: np.ndarray, fps: float, **kwargs) -> str:
    """A whole HTML document with one player (see :func:`player_fragment` for the arguments)."""
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8">'
        f"<style>body{{margin:0}}{PLAYER_CSS}</style></head><body>"
        f"{player_fragment(frames, fps, **kwargs)}<script>{PLAYER_JS}</script></body></html>"
    )
