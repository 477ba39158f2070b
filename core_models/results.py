"""The results store: one folder per run, written atomically, read only when complete.

A run directory (``RUN_DIR``) holds::

    settings.json          the training settings (every field, as the command filled them)
    status.json            {"state": "running" | "complete" | "failed" | "stopped", ...}
    train.log              the log of the run (every rank-0 message)
    history.jsonl          one line per epoch: losses, accuracies, seconds
    last.pt                resumable checkpoint (weights, optimiser, scheduler, RNG), every epoch
    model.pt               the final weights (compact, no optimiser), what the app and evaluate load
    eval/<split>/predictions.parquet   one row per clip (see ``core_models.evaluate``)
    eval/<split>/metrics.json          top-1, top-5, per class / view / subject, confusion matrix
    eval/<split>/COMPLETE              written last: the evaluation is whole

Every file is written under a temporary name and renamed into place, and the ``COMPLETE`` marker
is written after the others, so a reader never takes a half-written evaluation for a finished one
(:func:`read_eval` refuses it).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pandas as pd


class IncompleteRunError(FileNotFoundError):
    """A run or evaluation that is missing or was not finished."""


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
    path = Path(run_dir) / "status.json"
    if not path.is_file():
        return {"state": "missing"}
    return json.loads(path.read_text())


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


def read_history(run_dir: str | Path) -> list[dict[str, Any]]:
    path = Path(run_dir) / "history.jsonl"
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:  # a line being written while we read
            break
    return rows


def append_history(run_dir: str | Path, row: dict[str, Any]) -> None:
    with open(Path(run_dir) / "history.jsonl", "a") as f:
        f.write(json.dumps(row, default=_json_default) + "\n")
        f.flush()


def truncate_history(run_dir: str | Path, first_epoch: int) -> None:
    """Drop the history of epochs from ``first_epoch`` on (they are repeated after a resume)."""
    rows = [r for r in read_history(run_dir) if r.get("epoch", 0) < first_epoch]
    path = Path(run_dir) / "history.jsonl"
    tmp = path.with_name(f".{path.name}.{os.getpid()}.partial")
    tmp.write_text("".join(json.dumps(r, default=_json_default) + "\n" for r in rows))
    tmp.replace(path)
