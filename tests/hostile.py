"""A corpus of hostile inputs, each run through a real entry point in a worker bounded in time and memory.

Every case writes its own files (a FIFO named like a skeleton, a CSV whose indices multiply to
12 GB, a ``.npy`` header claiming a terabyte, JSON nested 100,000 deep, a checkpoint with NaN
weights or a pickled payload, a path outside the served data roots ...) and calls the function a
user reaches (a reader's listing and load, ``load_single``, ``build_from_checkpoint``, the command
line, the app's dataset source). The outcome is judged against what the case expects:

* ``clear error``: one of the project's error family (``DataFormatError``, ``CheckpointError``,
  ``RunFolderError``, a refused command line), naming the file where there is one;
* ``correct result``: the call returned and the case's check of the result holds;
* ``crash``: any other exception (a ``RecursionError``, ``MemoryError`` ...) or a dead worker;
* ``hang``: no answer within the time bound (the worker is killed and restarted);
* ``wrong``: an error where a valid file was given, a result where a hostile one was, a failed
  check, code executed by a file, or file content from outside the data roots in a message.

Cases run in one worker process (``RLIMIT_AS`` 4 GiB, so a runaway allocation fails there instead
of taking the machine); the worker measures each case's peak resident memory above its start.
Cases about permissions run in a forked child that drops to an unprivileged user when the worker
is root (root reads every file). ``python tests/hostile.py [--json FILE]`` runs the whole corpus
and prints the outcome counts (the README's figure); tests/test_hostile.py asserts on them.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import select
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT_S = 30.0  # per case: a hang is any case slower than this
MEMORY_LIMIT = 4 * 1024**3  # the worker's address-space limit
NOBODY = 65534

# -- cases ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One hostile input.

    Attributes:
        name: unique, ``group/what``.
        make: writes the case's files under a fresh folder; returns ``(action, named)``: the call
            to make, and the file an error message must name (None: no file to name).
        expect: ``"error"`` or ``"ok"``.
        check: for ``ok`` cases, the result's check (returns a problem, or None).
        match: for ``error`` cases, text the message must contain.
        unprivileged: run the action as an unprivileged user (permission cases).
        forbidden: text that must not appear in the outcome (content from outside the roots).
        marker: a file name under the case folder that must not exist afterwards (code executed).
    """

    name: str
    make: Callable[[Path], tuple[Callable[[], Any], Path | None]]
    expect: str = "error"
    check: Callable[[Any], str | None] | None = None
    match: str | None = None
    unprivileged: bool = False
    forbidden: str | None = None
    marker: str | None = None


CASES: list[Case] = []


def case(name: str, expect: str = "error", **kw) -> Callable:
    def register(make):
        CASES.append(Case(name, make, expect, **kw))
        return make

    return register


def cases_like(prefix: str, items: dict[str, Any], expect: str = "error", **kw) -> Callable:
    """Register one case per item: ``make(folder, item)``."""

    def register(make):
        for key, item in items.items():
            CASES.append(Case(f"{prefix}/{key}", lambda folder, item=item: make(folder, item), expect, **kw))
        return make

    return register


# -- writers of valid files, to damage ----------------------------------------------------------


def ntu_text(num_frames: int = 4, newline: str = "\n") -> str:
    """A valid one-body NTU ``.skeleton`` text."""
    lines = [str(num_frames)]
    for t in range(num_frames):
        lines += ["1", "72057594037931101 0 1 0 1 0 0 0.01 -0.02 2", "25"]
        for j in range(25):
            x, y, z = 0.01 * j + 0.01 * t, 0.8 - 0.06 * j, 3.0
            lines.append(f"{x:.4f} {y:.4f} {z:.4f} 200 300 {100 + j} {50 + 4 * j} 1 0 0 0 2")
    return newline.join(lines) + newline


def nucla_text(num_skeletons: int = 1) -> str:
    rows = []
    for s in range(num_skeletons):
        rows.append(f"{s + 1},{num_skeletons}")
        rows += [f"{0.01 * j:.3f},{0.5 - 0.05 * j:.3f},{2.0 + s:.3f},2" for j in range(20)]
    return "\n".join(rows) + "\n"


def detection(seed: int = 0, score: float = 1.0) -> dict:
    rng = np.random.default_rng(seed)
    return {
        "pose2d": rng.uniform(0, 20, 26).round(3).tolist(),
        "pose3d": rng.uniform(-1, 1, 39).round(3).tolist(),
        "cumscore": score,
    }


def pose_json(frames: int = 4) -> dict:
    return {"njts": 13, "K": 20, "frames": [[detection(t)] for t in range(frames)]}


def joints(T: int = 6, M: int = 1, J: int = 25, C: int = 3) -> np.ndarray:
    return np.random.default_rng(0).uniform(-1, 1, (T, M, J, C)).astype(np.float32)


def csv_text(arr: np.ndarray, newline: str = "\n") -> str:
    T, M, J, C = arr.shape
    head = "frame,person,joint,x,y" + (",z" if C == 3 else "")
    rows = [head] + [
        f"{t},{m},{j}," + ",".join(f"{v:.5f}" for v in arr[t, m, j])
        for t in range(T)
        for m in range(M)
        for j in range(J)
    ]
    return newline.join(rows) + newline


def npy_bytes(arr: np.ndarray, version: tuple[int, int] | None = None) -> bytes:
    buf = io.BytesIO()
    if version is None:
        np.save(buf, arr)
    else:
        np.lib.format.write_array(buf, arr, version=version)
    return buf.getvalue()


def npy_with_header(header: str, data: bytes = b"", version: int = 1) -> bytes:
    """An .npy file with a hand-written header dict (anything numpy's writer would not write)."""
    text = header.encode("latin1")
    pre = 10 if version == 1 else 12
    pad = (-(pre + len(text) + 1)) % 64
    text = text + b" " * pad + b"\n"
    size = struct.pack("<H", len(text)) if version == 1 else struct.pack("<I", len(text))
    return b"\x93NUMPY" + bytes([version, 0]) + size + text + data


def fifo(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mkfifo(path)
    return path


def write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_text(data, newline="")
    else:
        path.write_bytes(data)
    return path


def tiny_video(path: Path, frames: int = 4) -> Path:
    from core_models.data.video import write_video

    # a picture, not one flat colour: a video of blank frames is refused as unusable (data.video)
    ramp = np.add.outer(np.arange(24) * 6, np.arange(32) * 4).astype(np.uint8)  # (24, 32)
    clip = np.repeat(np.repeat(ramp[None, :, :, None], frames, 0), 3, 3)  # (T, 24, 32, 3)
    for t in range(frames):
        clip[t, 8:16, t % 24 : t % 24 + 8] = 255  # a square that moves
    return write_video(path, clip, fps=30)


def png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` (the data behind it is a few bytes)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = lambda kind, data: (  # noqa: E731
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    )
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


class Payload:
    """A pickle that creates a marker file when unpickled: proof that a loader ran code."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


# -- actions: the entry points ----------------------------------------------------------------


def read_skeleton(path: Path):
    """What load_single does with a skeleton file: read it, then pick the layout from its joints."""
    from core_models.data.single import _layout_for
    from core_models.data.single import read_skeleton as read

    warnings: list[str] = []
    import inspect

    j3, j2 = read(path, warnings) if "warnings" in inspect.signature(read).parameters else read(path)
    arr = j3 if j3 is not None else j2
    _layout_for(path, arr.shape[2], None)
    return {"shape": arr.shape, "array": arr, "warnings": warnings}


def ntu_dataset(root: Path, load: bool = True):
    from core_models.data.ntu import NTUReader

    reader = NTUReader(root)
    refs = reader.list_clips()
    out = {"clips": [r.name for r in refs], "skipped": dict(reader.skipped)}
    if load and refs:
        out["frames"] = reader.load(refs[0], with_video=False).num_frames
    return out


def nucla_dataset(root: Path, with_video: bool = False):
    from core_models.data.nucla import NUCLAReader

    reader = NUCLAReader(root)
    refs = reader.list_clips()
    out = {"clips": len(refs), "skipped": dict(reader.skipped)}
    if refs:
        clip = reader.load(refs[0], with_video=with_video)
        out.update(frames=clip.num_frames, warnings=clip.meta["warnings"])
    return out


def smarthome_dataset(root: Path):
    from core_models.data.smarthome import SmarthomeReader

    reader = SmarthomeReader(root)
    refs = reader.list_clips()
    out = {"clips": len(refs), "skipped": dict(reader.skipped)}
    if refs:
        clip = reader.load(refs[0], with_video=False)
        out.update(frames=clip.num_frames, warnings=clip.meta["warnings"], joints=clip.joints3d)
    return out


def ucf_dataset(root: Path):
    from core_models.data.ucf101 import UCF101Reader

    reader = UCF101Reader(root)
    return {"clips": len(reader.list_clips()), "skipped": dict(reader.skipped)}


def single(video: Path, skeleton: Path | None = None):
    from core_models.data.single import load_single

    clip = load_single(video, skeleton)
    return {"frames": clip.num_frames, "warnings": clip.meta["warnings"]}


def checkpoint(path: Path):
    from core_models.checkpoint import build_from_checkpoint, load_checkpoint

    model = build_from_checkpoint(load_checkpoint(path), path)
    return {"parameters": sum(p.numel() for p in model.parameters())}


class RefusedError(Exception):
    """A command line that exited with an error message (argparse's usage error, or ``error: ...``)."""


def cli(*argv: str):
    from core_models.cli import main

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            rc = main([str(a) for a in argv])
        except SystemExit as e:
            rc = e.code if isinstance(e.code, int) else (print(e.code, file=err) or 1)
    if rc:
        lines = err.getvalue().strip().splitlines()
        raise RefusedError(lines[-1][:500] if lines else f"exit status {rc}")  # the last line says why
    return {"rc": rc}


def served(data_root: Path, data: str, typed: str, load: str | None = None):
    """The app's dataset source, with ``data_root`` as the server's only data root."""
    os.environ["ADL_DATA_ROOTS"] = str(data_root)
    try:
        from app_support.sources import dataset_clip, open_dataset

        reader = open_dataset(data, typed)
        out = {"clips": [r.name for r in reader.list_clips()], "skipped": dict(reader.skipped)}
        if load:
            out["frames"] = dataset_clip(reader, load).num_frames
        return out
    finally:
        os.environ.pop("ADL_DATA_ROOTS", None)


# -- checks of results --------------------------------------------------------------------------


def warned(*words: str) -> Callable[[Any], str | None]:
    def check(result) -> str | None:
        text = " ".join(result.get("warnings", []))
        missing = [w for w in words if w not in text]
        return f"no warning saying {missing} in {result.get('warnings')}" if missing else None

    return check


def shape_is(shape: tuple) -> Callable[[Any], str | None]:
    def check(result) -> str | None:
        return None if tuple(result["shape"]) == shape else f"shape {result['shape']}, expected {shape}"

    return check


def equals(expected: np.ndarray) -> Callable[[Any], str | None]:
    def check(result) -> str | None:
        ok = np.allclose(result["array"], expected, atol=1e-4, equal_nan=True)
        return None if ok else "values differ from the file's"

    return check


def skipped(reason: str, clips: int | None = None) -> Callable[[Any], str | None]:
    def check(result) -> str | None:
        if not any(reason in k for k in result["skipped"]):
            return f"nothing skipped as {reason!r}: {result['skipped']}"
        n = len(result["clips"]) if isinstance(result["clips"], list) else result["clips"]
        if clips is not None and n != clips:
            return f"{n} clips, expected {clips}"
        return None

    return check


def _ok(result) -> str | None:
    return None


# ================================================================================================
# the worker: runs cases, bounded, and says what happened


def family() -> tuple[type, ...]:
    """The project's error family (what exists of it: the corpus also measures older versions)."""
    from core_models import checkpoint, results
    from core_models.data import errors

    names = ((errors, "DataFormatError"), (checkpoint, "CheckpointError"), (results, "RunFolderError"))
    return tuple(getattr(m, n) for m, n in names if hasattr(m, n)) + (RefusedError,)


def _preload() -> None:
    """Import everything a case may touch, so a child that dropped privileges needs no file."""
    import cv2  # noqa: F401
    import PIL.Image  # noqa: F401
    import PIL.PngImagePlugin  # noqa: F401
    import torch

    import app_support.sources  # noqa: F401
    import core_models.cli  # noqa: F401
    import core_models.data.nucla  # noqa: F401
    import core_models.data.single  # noqa: F401
    import core_models.data.smarthome  # noqa: F401
    import core_models.data.ucf101  # noqa: F401
    import core_models.evaluate  # noqa: F401
    import core_models.inspect  # noqa: F401
    import core_models.models  # noqa: F401
    import core_models.train  # noqa: F401

    torch.set_num_threads(1)


def _peak_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _attempt(c: Case, action: Callable[[], Any], named: Path | None) -> dict[str, Any]:
    try:
        result = action()
    except family() as e:
        return {"raised": "family", "type": type(e).__name__, "message": str(e)}
    except BaseException as e:  # noqa: BLE001 - every other outcome is the finding
        return {"raised": "other", "type": type(e).__name__, "message": str(e)[:500]}
    problem = (c.check or _ok)(result) if c.expect == "ok" else None
    return {"raised": None, "problem": problem, "result": repr(result)[:300]}


def _as_nobody(c: Case, action, named) -> dict[str, Any]:
    """Run the action in a forked child that has dropped root (root reads every file)."""
    if os.geteuid() != 0:
        return _attempt(c, action, named)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        try:
            os.close(r)
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            out = _attempt(c, action, named)
        except BaseException as e:  # noqa: BLE001
            out = {"raised": "other", "type": type(e).__name__, "message": f"in the child: {e}"}
        os.write(w, json.dumps(out).encode())
        os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 65536):
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    return json.loads(data or b'{"raised": "other", "type": "child died", "message": ""}')


def judge(c: Case, attempt: dict[str, Any], named: Path | None, folder: Path) -> tuple[str, str]:
    """(outcome, detail): clear error / correct result / crash / wrong."""
    text = attempt.get("message", "") + attempt.get("result", "")
    if c.marker and (folder / c.marker).exists():
        return "wrong", "code executed: the file ran its payload"
    if c.forbidden and c.forbidden in text:
        return "wrong", f"content from outside the data roots in the answer: {text[:200]}"
    if attempt["raised"] == "other":
        return "crash", f"{attempt['type']}: {attempt['message'][:300]}"
    if c.expect == "error":
        if attempt["raised"] is None:
            return "wrong", f"accepted: {attempt['result']}"
        msg = attempt["message"]
        if c.match and c.match not in msg:
            return "wrong", f"error without {c.match!r}: {msg[:300]}"
        if named is not None and named.name not in msg:
            return "wrong", f"error does not name {named.name}: {msg[:300]}"
        return "clear error", msg[:300]
    if attempt["raised"] is not None:
        return "wrong", f"refused a valid input: {attempt['message'][:300]}"
    if attempt["problem"]:
        return "wrong", attempt["problem"]
    return "correct result", attempt["result"][:200]


def run_one(c: Case, base: Path) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="case-", dir=base))
    folder.chmod(0o755)  # the unprivileged child must reach its files
    t0 = time.perf_counter()
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")  # peak RSS from here
    start_kib = _rss_kib()
    action, named = c.make(folder)
    attempt = _as_nobody(c, action, named) if c.unprivileged else _attempt(c, action, named)
    outcome, detail = judge(c, attempt, named, folder)
    return {
        "name": c.name, "outcome": outcome, "detail": detail, "seconds": round(time.perf_counter() - t0, 3),
        "peak_mib": round(max(0, _peak_kib() - start_kib) / 1024, 1),
    }  # fmt: skip


def worker(base: Path) -> None:
    """Read case names on stdin, answer one JSON line each on stdout."""
    _preload()
    by_name = {c.name: c for c in CASES}
    out = sys.stdout
    sys.stdout = sys.stderr  # anything a case prints must not break the protocol
    for line in sys.stdin:
        name = line.strip()
        try:
            row = run_one(by_name[name], base)
        except BaseException as e:  # noqa: BLE001 - a case that cannot even be set up
            row = {"name": name, "outcome": "crash", "detail": f"setup: {type(e).__name__}: {e}"[:400],
                   "seconds": 0.0, "peak_mib": 0.0}  # fmt: skip
        out.write(json.dumps(row) + "\n")
        out.flush()


# -- the parent: a worker per run, restarted after a hang or a death -----------------------------


def _limits() -> None:
    import resource

    os.setsid()
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def _start(base: Path) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CORE_MODELS_NO_PROGRESS": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")])}  # fmt: skip
    return subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--worker", str(base)], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, cwd=ROOT, preexec_fn=_limits,
    )  # fmt: skip


def _stop(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def run_corpus(names: list[str] | None = None, timeout: float = TIMEOUT_S) -> list[dict[str, Any]]:
    """Run cases (all by default) in a bounded worker; one row per case, in order."""
    names = names or [c.name for c in CASES]
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="hostile-") as tmp:
        base = Path(tmp)
        base.chmod(0o755)
        proc = _start(base)
        buffer = b""
        try:
            for name in names:
                proc.stdin.write((name + "\n").encode())
                proc.stdin.flush()
                deadline = time.monotonic() + timeout
                row = None
                while row is None:
                    if b"\n" in buffer:
                        line, buffer = buffer.split(b"\n", 1)
                        row = json.loads(line)
                        break
                    left = deadline - time.monotonic()
                    ready, _, _ = select.select([proc.stdout], [], [], max(0.0, left))
                    if not ready:
                        row = {"name": name, "outcome": "hang", "detail": f"no answer in {timeout:.0f} s",
                               "seconds": timeout, "peak_mib": 0.0}  # fmt: skip
                    else:
                        chunk = os.read(proc.stdout.fileno(), 65536)
                        if chunk:
                            buffer += chunk
                            continue
                        code = proc.wait()
                        row = {"name": name, "outcome": "crash", "detail": f"the worker died ({code})",
                               "seconds": 0.0, "peak_mib": 0.0}  # fmt: skip
                    _stop(proc)
                    proc, buffer = _start(base), b""
                rows.append(row)
        finally:
            _stop(proc)
    return rows


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    counts = Counter(r["outcome"] for r in rows)
    return {
        "cases": len(rows),
        "outcomes": {
            k: counts.get(k, 0) for k in ("clear error", "correct result", "crash", "hang", "wrong")
        },
        "seconds": round(sum(r["seconds"] for r in rows), 1),
        "slowest": max(rows, key=lambda r: r["seconds"])["name"] if rows else None,
        "max_seconds": max((r["seconds"] for r in rows), default=0.0),
        "max_peak_mib": max((r["peak_mib"] for r in rows), default=0.0),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--json", type=Path, help="also write every case's row here")
    p.add_argument("--only", help="only cases whose name starts with this")
    p.add_argument("--timeout", type=float, default=TIMEOUT_S, help="seconds after which a case hangs")
    args = p.parse_args(argv)
    if args.worker:
        worker(args.worker)
        return 0
    t0 = time.perf_counter()
    names = [c.name for c in CASES if not args.only or c.name.startswith(args.only)]
    rows = run_corpus(names, timeout=args.timeout)
    for r in rows:
        if r["outcome"] not in ("clear error", "correct result"):
            print(f"{r['outcome']:>14}  {r['name']}: {r['detail']}")
    s = summary(rows)
    print(json.dumps({**s, "wall_seconds": round(time.perf_counter() - t0, 1)}, indent=1))
    if args.json:
        args.json.write_text(json.dumps({"summary": s, "rows": rows}, indent=1))
    return 0


# The cases live in two modules that register them on import (they import this one). Run as a
# script, this file imports itself as ``hostile`` first, so there is one registry.
if __name__ == "__main__":
    import hostile

    sys.exit(hostile.main())
else:
    import hostile_files  # noqa: F401
    import hostile_system  # noqa: F401
