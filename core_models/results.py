"""The results store: one folder per run, written atomically, read only when complete.

A run directory (``RUN_DIR``) holds::

    settings.json          the training settings (every field, as the command filled them)
    status.json            {"state": "running" | "complete" | "failed" | "stopped", ...}
    train.log              the log of the run (every rank-0 message)
    history.jsonl          one line per epoch: losses, accuracies, seconds
    steps.jsonl            one line every few optimiser steps: the running loss and accuracy (live curves)
    progress.json          what a starting job is doing: writing data, preparing clips (done / total)
    last.pt                resumable checkpoint (weights, optimiser, scheduler, RNG), every epoch
    model.pt               the final weights (compact, no optimiser), what the app and evaluate load
    eval/<split>/predictions.parquet   one row per clip (see ``core_models.evaluate``)
    eval/<split>/metrics.json          top-1, top-5, per class / view / subject, confusion matrix
    eval/<split>/COMPLETE              written last: the evaluation is whole
    notes.parquet          tags and notes on clips (the app's failure gallery): split, clip, tag, note, time

Every file is written under a temporary name and renamed into place, and the ``COMPLETE`` marker
is written after the others, so a reader never takes a half-written evaluation for a finished one
(:func:`read_eval` refuses it).

A run folder is checked writable (:func:`check_writable`) before any computation, so a read-only
folder is found in a second, not after an hour of training or evaluation. A run whose process was
killed keeps ``status.json`` at "running"; :func:`read_status` reports it as ``interrupted`` when
the recorded process (pid and start time, on this host) no longer exists.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd


class IncompleteRunError(FileNotFoundError):
    """A run or evaluation that is missing or was not finished."""


class RunFolderError(OSError):
    """A run folder this process cannot create or write into (said before any computation)."""


def check_writable(folder: str | Path) -> Path:
    """Create ``folder`` if needed and prove it writable with a probe file, else :class:`RunFolderError`."""
    folder = Path(folder)
    probe = folder / f".write-check.{os.getpid()}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        try:
            os.write(fd, b"ok")
        finally:
            os.close(fd)
        probe.unlink()
    except OSError as e:
        raise RunFolderError(
            f"{folder}: cannot write into this folder ({e.strerror or type(e).__name__}); "
            "expected a folder this user can create and write (choose another --out, or fix its permissions)"
        ) from None
    return folder


def process_start(pid: int) -> int | None:
    """The start time of process ``pid`` (clock ticks since boot, from /proc), or None if unknown."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None


def process_alive(pid: int, started: int | None = None) -> bool:
    """Whether process ``pid`` exists (and, when ``started`` is given, is the one started then)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process: it exists
    except (OverflowError, ValueError):
        return False
    if started is not None:
        now = process_start(pid)
        return now is None or now == started  # another process took the pid: the run is gone
    return True


def running_status(**extra: Any) -> dict[str, Any]:
    """The fields that let :func:`read_status` tell a running process from a killed one."""
    pid = os.getpid()
    return {"pid": pid, "pid_start": process_start(pid), "host": socket.gethostname(), **extra}


def write_json(path: str | Path, data: Any) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=False, default=_json_default) + "\n")
    tmp.replace(path)
    return path


def _json_default(o: Any):
    import numpy as np

    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"cannot write {type(o).__name__} to JSON")


def write_parquet(path: str | Path, table: pd.DataFrame) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
    table.to_parquet(tmp, index=False)
    tmp.replace(path)
    return path


def set_status(run_dir: str | Path, state: str, **extra: Any) -> None:
    data = {"state": state, "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **extra}
    write_json(Path(run_dir) / "status.json", data)


def read_status(run_dir: str | Path) -> dict[str, Any]:
    """The run's ``status.json``; "running" or "trained" becomes "interrupted" when its process is gone.

    A status written on another host (a shared file system) is taken as it is. A file that is
    not a JSON object reads as ``{"state": "unreadable"}``.
    """
    path = Path(run_dir) / "status.json"
    if not path.is_file():
        return {"state": "missing"}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError, RecursionError):
        return {"state": "unreadable", "reason": f"{path} is not a readable JSON status"}
    if not isinstance(data, dict):
        return {"state": "unreadable", "reason": f"{path} is not a JSON object"}
    pid = data.get("pid")
    same_host = data.get("host") in (None, socket.gethostname())
    if data.get("state") in ("running", "trained") and isinstance(pid, int) and same_host:
        started = data.get("pid_start") if isinstance(data.get("pid_start"), int) else None
        if not process_alive(pid, started):
            fix = (
                f"`python -m core_models train --resume --out {run_dir}` continues it"
                if data["state"] == "running"
                else f"`python -m core_models evaluate --run {run_dir}` evaluates it"
            )
            what = "training" if data["state"] == "running" else "evaluation"
            data = {**data, "state": "interrupted", "was": data["state"],
                    "reason": f"the {what} process ({pid}) ended without finishing; {fix}"}  # fmt: skip
    return data


def eval_dir(run_dir: str | Path, split: str = "test") -> Path:
    return Path(run_dir) / "eval" / split


def write_eval(run_dir: str | Path, split: str, table: pd.DataFrame, metrics: dict[str, Any]) -> Path:
    """Write one evaluation; the ``COMPLETE`` marker goes last."""
    out = eval_dir(run_dir, split)
    out.mkdir(parents=True, exist_ok=True)
    (out / "COMPLETE").unlink(missing_ok=True)
    write_parquet(out / "predictions.parquet", table)
    write_json(out / "metrics.json", metrics)
    write_json(out / "COMPLETE", {"clips": len(table), "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
    return out


def read_eval(run_dir: str | Path, split: str = "test") -> tuple[pd.DataFrame, dict[str, Any]]:
    """The predictions table and metrics of a finished evaluation."""
    out = eval_dir(run_dir, split)
    if not (out / "COMPLETE").is_file():
        raise IncompleteRunError(
            f"{out}: no finished evaluation (no COMPLETE marker); run "
            f"`python -m core_models evaluate --run {run_dir} --split {split}`"
        )
    table = pd.read_parquet(out / "predictions.parquet")
    metrics = json.loads((out / "metrics.json").read_text())
    return table, metrics


def read_history(run_dir: str | Path, name: str = "history.jsonl") -> list[dict[str, Any]]:
    path = Path(run_dir) / name
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:  # a line being written while we read
            break
    return rows


def append_history(
    run_dir: str | Path, row: dict[str, Any], name: str = "history.jsonl", *, sync: bool = True
) -> None:
    """Append one epoch's row, on disk (fsync) before the caller writes that epoch's ``last.pt``.

    In that order a kill between the two loses nothing: the resumed run repeats the epoch and
    :func:`truncate_history` drops the row it repeats. ``name`` picks the file (``steps.jsonl``
    holds the per-step rows); ``sync=False`` leaves the flush to disk to the system.
    """
    with open(Path(run_dir) / name, "a") as f:
        f.write(json.dumps(row, default=_json_default) + "\n")
        f.flush()
        if sync:
            os.fsync(f.fileno())


def read_steps(run_dir: str | Path) -> list[dict[str, Any]]:
    """The rows of ``steps.jsonl`` (see :func:`append_history` for the format: one JSON per line)."""
    return read_history(run_dir, "steps.jsonl")


def append_steps(run_dir: str | Path, row: dict[str, Any]) -> None:
    """One line of the live curve. Not synced to disk: the line is read back by the Train page
    within seconds, and after a crash the history and the checkpoint are the record (a synced
    line per step cost small models a few per cent of their training loop)."""
    append_history(run_dir, row, "steps.jsonl", sync=False)


def write_progress(path: str | Path, stage: str, done: int, total: int, started: float) -> None:
    """What a long preparation is doing, for a page to show: ``stage``, ``done`` of ``total``,
    ``started`` (``time.time()``) and the time now (atomic, like every file here)."""
    write_json(path, {"stage": stage, "done": int(done), "total": int(total), "started": started,
                      "time": time.time()})  # fmt: skip


def read_progress(path: str | Path) -> dict[str, Any] | None:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def truncate_history(run_dir: str | Path, first_epoch: int, last_row: dict[str, Any] | None = None) -> None:
    """Drop the history (and the step lines) of epochs from ``first_epoch`` on (they are repeated
    after a resume).

    ``last_row`` is the row of epoch ``first_epoch - 1`` as its checkpoint recorded it: written
    back to the history if the file lacks it (a history written by an older version, or lost), so
    the history always covers every epoch the checkpoint holds.
    """
    for name in ("history.jsonl", "steps.jsonl"):
        path = Path(run_dir) / name
        if name == "steps.jsonl" and not path.is_file():
            continue
        rows = [r for r in read_history(run_dir, name) if r.get("epoch", 0) < first_epoch]
        known = last_row is None or any(r.get("epoch") == last_row.get("epoch") for r in rows)
        if name == "history.jsonl" and not known:
            rows.append(last_row)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
        tmp.write_text("".join(json.dumps(r, default=_json_default) + "\n" for r in rows))
        tmp.replace(path)


# -- notes on clips ---------------------------------------------------------------------------------
NOTES_FILE = "notes.parquet"
NOTE_COLUMNS = ["split", "clip", "tag", "note", "time"]
MAX_TAG = 60
MAX_NOTE = 2000


def _empty_notes() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="string") for c in NOTE_COLUMNS})


def read_notes(run_dir: str | Path, split: str | None = "test") -> pd.DataFrame:
    """The tags and notes kept for a run's clips: columns ``split, clip, tag, note, time``.

    Only ``split``'s rows (all when None); an empty table when the run has no notes.
    """
    path = Path(run_dir) / NOTES_FILE
    if not path.is_file():
        return _empty_notes()
    notes = pd.read_parquet(path)
    if list(notes.columns) != NOTE_COLUMNS:
        raise ValueError(f"{path}: expected the columns {NOTE_COLUMNS}, found {list(notes.columns)}")
    return notes if split is None else notes[notes["split"] == split].reset_index(drop=True)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` (a side file), so two writers never lose each other's notes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def write_note(run_dir: str | Path, clip: str, tag: str, note: str = "", split: str = "test") -> pd.DataFrame:
    """Keep (or replace) the tag and note of ``clip``; an empty tag and note remove it.

    The table is rewritten atomically under a lock (read, change, write to a temporary file,
    rename), so a reader never sees half a table and two writers never drop each other's rows.

    Raises:
        ValueError: a clip name that is empty, a tag over :data:`MAX_TAG` or a note over
            :data:`MAX_NOTE` characters.

    Returns:
        The run's notes for ``split`` after the change.
    """
    clip, tag, note = str(clip).strip(), str(tag or "").strip(), str(note or "").strip()
    if not clip:
        raise ValueError("a note needs the clip's name")
    if len(tag) > MAX_TAG or len(note) > MAX_NOTE:
        raise ValueError(f"a tag is at most {MAX_TAG} characters and a note at most {MAX_NOTE}")
    run_dir = Path(run_dir)
    with _locked(run_dir / f".{NOTES_FILE}.lock"):
        notes = read_notes(run_dir, split=None)
        notes = notes[~((notes["split"] == split) & (notes["clip"] == clip))]
        if tag or note:
            row = pd.DataFrame(
                [[split, clip, tag, note, time.strftime("%Y-%m-%dT%H:%M:%S%z")]], columns=NOTE_COLUMNS
            )
            notes = pd.concat([notes, row.astype("string")], ignore_index=True)
        write_parquet(run_dir / NOTES_FILE, notes.astype("string").reset_index(drop=True))
    return notes[notes["split"] == split].reset_index(drop=True)


def machine() -> str:
    """A short description of the machine a figure was measured on."""
    import os
    import platform

    import torch

    try:  # Linux names the CPU model here; platform.processor() is often empty there
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            model = next(ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name"))
    except (OSError, StopIteration):  # elsewhere (and where it has no name) ask the platform, which
        model = platform.processor() or platform.machine()  # may run a command (uname -p) to answer
    return f"{model}, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads)"


def git_commit() -> str:
    """The commit the code runs at (``HEAD``, ``+dirty`` when tracked code outside ``checkpoints/``
    differs from it), or ``"unknown"`` outside a git checkout."""
    import subprocess

    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        # The shipped checkpoints are the output, not the code: a manifest updated by an earlier
        # entry of the same reproduction does not make the code dirty.
        status = ["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)checkpoints"]
        dirty = subprocess.run(status, capture_output=True, text=True, check=True).stdout.strip()
        return head + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
