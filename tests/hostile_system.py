"""Hostile checkpoints, command lines, run folders, UCF-101 lists and served-app paths for tests/hostile.py.

Checkpoints through ``load_checkpoint`` + ``build_from_checkpoint`` (what the app and evaluate
do), the command line through ``core_models.cli.main``, run folders through ``train``,
``evaluate`` and ``read_status``, and the app's dataset source with one data root.
"""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

from hostile import (
    ROOT,
    Payload,
    case,
    cases_like,
    checkpoint,
    cli,
    fifo,
    ntu_text,
    served,
    skipped,
    tiny_video,
    ucf_dataset,
    write,
)  # fmt: skip
from hostile_files import SPECIAL, unreadable

# ================================================================================================
# checkpoints (load_checkpoint + build_from_checkpoint: what the app and evaluate do)


def good_checkpoint(num_classes: int = 5) -> dict:
    import torch

    from core_models.checkpoint import FORMAT, config_dict
    from core_models.models import build_model

    torch.manual_seed(0)
    model = build_model("skeleton_lstm", "cpu", num_classes=num_classes)
    return {
        "format": FORMAT, "model": "skeleton_lstm", "preset": "cpu", "config": config_dict(model.config),
        "num_classes": num_classes, "layout": "ntu25", "class_names": [f"c{i}" for i in range(num_classes)],
        "data": {"kind": "synth", "protocol": "cs", "root": "data/synth"}, "state_dict": model.state_dict(),
    }  # fmt: skip


def damaged(**changes) -> Callable[[], dict]:
    def make() -> dict:
        ck = good_checkpoint()
        for key, value in changes.items():
            if key.startswith("config."):
                ck["config"] = {**ck["config"], key[7:]: value}
            elif value is _DROP:
                del ck[key]
            else:
                ck[key] = value(ck) if callable(value) else value
        return ck

    return make


_DROP = object()


def _weights(fill: float) -> Callable[[dict], dict]:
    def change(ck: dict) -> dict:
        state = dict(ck["state_dict"])
        w = state["head.weight"].clone()
        w[0, 0] = fill
        state["head.weight"] = w
        return state

    return change


CHECKPOINT_BAD = {
    "num-classes--5": damaged(num_classes=-5, **{"config.num_classes": -5}),
    "num-classes-2e9": damaged(num_classes=2_000_000_000, **{"config.num_classes": 2_000_000_000}),
    "num-classes-0": damaged(num_classes=0),
    "num-classes-string": damaged(num_classes="5"),
    "num-classes-bool": damaged(num_classes=True),
    "num-classes-float": damaged(num_classes=5.0),
    "hidden-300000": damaged(**{"config.hidden": 300_000}),
    "hidden-negative": damaged(**{"config.hidden": -8}),
    "hidden-string": damaged(**{"config.hidden": "128"}),
    "layers-1e9": damaged(**{"config.num_layers": 10**9}),
    "dropout-nan": damaged(**{"config.dropout": float("nan")}),
    "too-many-parameters": damaged(**{"config.hidden": 8000, "config.num_layers": 60}),
    "config-unknown-field": damaged(**{"config.evil": 1}),
    "config-a-list": damaged(config=[1, 2]),
    "config-num-classes-mismatch": damaged(**{"config.num_classes": 7}),
    "state-dict-a-list": damaged(state_dict=[1, 2, 3]),
    "state-dict-strings": damaged(state_dict=lambda ck: {k: "x" for k in ck["state_dict"]}),
    "state-dict-wrong-shape": damaged(
        state_dict=lambda ck: {**ck["state_dict"], "head.bias": ck["state_dict"]["head.bias"][:3]}
    ),
    "state-dict-missing-tensor": damaged(
        state_dict=lambda ck: {k: v for k, v in ck["state_dict"].items() if k != "head.bias"}
    ),
    "nan-weights": damaged(state_dict=_weights(float("nan"))),
    "inf-weights": damaged(state_dict=_weights(float("inf"))),
    "model-unknown": damaged(model="resnet9000"),
    "model-not-a-string": damaged(model=["skeleton_lstm"]),
    "preset-unknown": damaged(preset="huge"),
    "layout-unknown": damaged(layout="ntu99"),
    "class-names-too-few": damaged(class_names=["a", "b"]),
    "class-names-not-strings": damaged(class_names=[1, 2, 3, 4, 5]),
    "data-a-list": damaged(data=["synth"]),
    "format-wrong": damaged(format="other/2"),
    "keys-missing": damaged(state_dict=_DROP),
    "bare-state-dict": lambda: good_checkpoint()["state_dict"],
    "a-list": lambda: [1, 2, 3],
    "epoch-negative": damaged(epoch=-1),
}


@cases_like("checkpoint", CHECKPOINT_BAD)
def _checkpoint_bad(folder: Path, make_payload):
    import torch

    path = folder / "model.pt"
    torch.save(make_payload(), path)
    return (lambda: checkpoint(path)), path


CHECKPOINT_BAD_BYTES = {
    "text-file": b"this is not a checkpoint\n",
    "empty": b"",
    "broken-zip": b"PK\x03\x04 not really a zip" * 4,
}


@cases_like("checkpoint", CHECKPOINT_BAD_BYTES)
def _checkpoint_bytes(folder: Path, data: bytes):
    path = write(folder / "model.pt", data)
    return (lambda: checkpoint(path)), path


@case("checkpoint/truncated")
def _(folder):
    import torch

    buf = io.BytesIO()
    torch.save(good_checkpoint(), buf)
    path = write(folder / "model.pt", buf.getvalue()[: len(buf.getvalue()) // 2])
    return (lambda: checkpoint(path)), path


@case("checkpoint/pickled-code", marker="pwned")
def _(folder):
    import torch

    path = folder / "model.pt"
    torch.save({**good_checkpoint(), "evil": Payload(str(folder / "pwned"))}, path)
    return (lambda: checkpoint(path)), path


@cases_like("checkpoint-special", {k: v for k, v in SPECIAL.items() if k != "link-loop"})
def _checkpoint_special(folder: Path, make):
    path = folder / "model.pt"
    make(path)
    return (lambda: checkpoint(path)), path


@case("checkpoint-special/unreadable", unprivileged=True, match="permission denied")
def _(folder):
    import torch

    path = folder / "model.pt"
    torch.save(good_checkpoint(), path)
    unreadable(path)
    return (lambda: checkpoint(path)), path


@case("checkpoint-valid/skeleton-lstm", expect="ok", check=lambda r: None if r["parameters"] > 0 else "empty")
def _(folder):
    import torch

    path = folder / "model.pt"
    torch.save(good_checkpoint(), path)
    return (lambda: checkpoint(path)), None


@case(
    "checkpoint-valid/shipped-part-attention",
    expect="ok",
    check=lambda r: None if r["parameters"] > 5e5 else "?",
)
def _(folder):
    path = ROOT / "checkpoints" / "part_attention-cs" / "model.pt"
    return (lambda: checkpoint(path)), None


# ================================================================================================
# the command line and run folders

CLI_BAD = {
    "info-check-negative": ("info", "--data", "ntu", "--root", "{folder}", "--check", "-5"),
    "info-check-text": ("info", "--data", "ntu", "--root", "{folder}", "--check", "all"),
    "train-epochs-0": ("train", "--model", "skeleton_lstm", "--out", "{folder}/run", "--epochs", "0"),
    "train-lr-negative": ("train", "--model", "skeleton_lstm", "--out", "{folder}/run", "--lr", "-1"),
    "train-lr-nan": ("train", "--model", "skeleton_lstm", "--out", "{folder}/run", "--lr", "nan"),
    "train-batch-size-0": ("train", "--model", "skeleton_lstm", "--out", "{folder}/run", "--batch-size", "0"),
    "train-limit-negative": ("train", "--model", "skeleton_lstm", "--out", "{folder}/run", "--limit", "-3"),
    "train-workers-negative": (
        "train",
        "--model",
        "skeleton_lstm",
        "--out",
        "{folder}/run",
        "--workers",
        "-1",
    ),
    "evaluate-batch-size-0": ("evaluate", "--run", "{folder}", "--batch-size", "0"),
    "explain-steps-0": ("explain", "--run", "{folder}", "--steps", "0"),
    "explain-limit-negative": ("explain", "--run", "{folder}", "--limit", "-1"),
    "render-size-negative": (
        "render",
        "S001C001P001R001A001",
        "--out",
        "{folder}/x.webm",
        "--size",
        "-1",
        "5",
    ),
    "synth-workers-0": ("synth", "--out", "{folder}/synth", "--workers", "0"),
    "models-num-classes-0": ("models", "--num-classes", "0"),
}


@cases_like("cli", CLI_BAD, match="error:")
def _cli_bad(folder: Path, argv: tuple[str, ...]):
    args = [a.replace("{folder}", str(folder)) for a in argv]
    return (lambda: cli(*args)), None


def shipped_run(folder: Path) -> Path:
    run = folder / "run"
    run.mkdir()
    for name in ("model.pt", "settings.json"):
        (run / name).write_bytes((ROOT / "checkpoints" / "skeleton_lstm-cs" / name).read_bytes())
    return run


@case("run-folder/evaluate-read-only", unprivileged=True, match="cannot write into this folder")
def _(folder):
    run = shipped_run(folder)
    if os.geteuid() != 0:
        run.chmod(0o555)  # as root, the unprivileged child cannot write into root's folder anyway
    return (lambda: cli("evaluate", "--run", run, "--root", folder / "no-data")), None


@case("run-folder/train-read-only", unprivileged=True, match="cannot write into this folder")
def _(folder):
    out = folder / "locked"
    out.mkdir()
    if os.geteuid() != 0:
        out.chmod(0o555)
    return (
        lambda: cli("train", "--model", "skeleton_lstm", "--out", out / "run", "--root", folder / "none")
    ), None


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


@case("run-folder/killed-run-is-interrupted", expect="ok",
      check=lambda r: None if r["state"] == "interrupted" else f"state {r['state']}")  # fmt: skip
def _(folder):
    from core_models import results

    write(folder / "run" / "status.json", json.dumps({"state": "running", "pid": dead_pid(),
                                                      "host": socket.gethostname()}))  # fmt: skip
    return (lambda: results.read_status(folder / "run")), None


@case("run-folder/status-not-json", expect="ok",
      check=lambda r: None if r["state"] == "unreadable" else f"state {r['state']}")  # fmt: skip
def _(folder):
    from core_models import results

    write(folder / "run" / "status.json", "[" * 100_000)
    return (lambda: results.read_status(folder / "run")), None


def ucf_root(folder: Path, train: list[str], test: list[str]) -> Path:
    root = folder / "ucf"
    write(root / "ucfTrainTestlist" / "classInd.txt", "1 Walk\r\n2 YoYo\r\n")
    write(root / "ucfTrainTestlist" / "trainlist01.txt", "".join(f"{x}\r\n" for x in train))
    write(root / "ucfTrainTestlist" / "testlist01.txt", "".join(f"{x}\r\n" for x in test))
    return root


@case("ucf101/clip-in-train-and-test", match="listed again")
def _(folder):
    root = ucf_root(
        folder, ["Walk/v_Walk_g08_c01.avi 1"], ["YoYo/v_YoYo_g01_c01.avi", "Walk/v_Walk_g08_c01.avi"]
    )
    return (lambda: ucf_dataset(root)), root / "ucfTrainTestlist" / "testlist01.txt"


@case("ucf101/clip-twice-in-train", match="listed again")
def _(folder):
    root = ucf_root(folder, ["Walk/v_Walk_g08_c01.avi 1", "Walk/v_Walk_g08_c01.avi 1"], [])
    return (lambda: ucf_dataset(root)), root / "ucfTrainTestlist" / "trainlist01.txt"


@case("ucf101/list-is-a-fifo")
def _(folder):
    root = ucf_root(folder, [], [])
    (root / "ucfTrainTestlist" / "trainlist01.txt").unlink()
    fifo(root / "ucfTrainTestlist" / "trainlist01.txt")
    return (lambda: ucf_dataset(root)), root / "ucfTrainTestlist" / "trainlist01.txt"


@case("ucf101/fifo-video", expect="ok", check=skipped("FIFO", clips=1))
def _(folder):
    root = ucf_root(folder, ["Walk/v_Walk_g08_c01.avi 1", "YoYo/v_YoYo_g08_c01.avi 2"], [])
    tiny_video(root / "UCF-101" / "Walk" / "v_Walk_g08_c01.avi")
    fifo(root / "UCF-101" / "YoYo" / "v_YoYo_g08_c01.avi")
    return (lambda: ucf_dataset(root)), None


# ================================================================================================
# the served app: dataset folders only under the data roots, nothing quoted from outside them

SECRET = "TOP-SECRET-LINE"


def served_root(folder: Path) -> tuple[Path, Path]:
    """A data root with one NTU folder, and a secret file outside the root."""
    data = folder / "data"
    write(data / "ntu" / "S001C001P001R001A001.skeleton", ntu_text())
    secret = write(folder / "outside" / "S001C001P001R001A002.skeleton", SECRET + "\n")
    return data, secret


OUTSIDE = {
    "filesystem-root": "/",
    "etc": "/etc",
    "nonexistent": "/nonexistent/folder",
    "dot-dot-escape": "data/../outside",
    "dot-dot-relative": "../../../../../../etc",
    "nul-byte": "data/ntu\x00/etc",
    "very-long": "a/" * 5000,
    "empty": "   ",
}


@cases_like("serve", OUTSIDE, match="not a folder this server offers", forbidden=SECRET)
def _serve_outside(folder: Path, typed: str):
    data, _ = served_root(folder)
    typed = typed if not typed.startswith("data/") else str(folder / typed)
    return (lambda: served(data, "ntu", typed)), None


def _same(result) -> str | None:
    a = result["answers"]
    return None if len(a) == 2 and a[0] == a[1] else f"different answers: {a}"


@case("serve/same-answer-whether-it-exists-or-not", expect="ok", check=_same)
def _(folder):
    data, _ = served_root(folder)

    def both():
        answers = []
        for typed in (str(folder / "outside"), str(folder / "outside-nonexistent")):
            try:
                served(data, "ntu", typed)
            except Exception as e:
                answers.append(str(e).replace(typed, "<path>"))
        return {"answers": answers}

    return both, None


@case("serve/root-link-out-of-the-roots", match="not a folder this server offers", forbidden=SECRET)
def _(folder):
    data, secret = served_root(folder)
    os.symlink(secret.parent, data / "innocent")
    return (lambda: served(data, "ntu", str(data / "innocent"))), None


@case("serve/file-link-out-of-the-roots-listed", expect="ok", forbidden=SECRET,
      check=skipped("link out of the served folders", clips=1))  # fmt: skip
def _(folder):
    data, secret = served_root(folder)
    os.symlink(secret, data / "ntu" / "S001C001P001R001A002.skeleton")
    return (lambda: served(data, "ntu", str(data / "ntu"))), None


@case(
    "serve/file-link-out-of-the-roots-loaded",
    match="outside the folders this server offers",
    forbidden=SECRET,
)
def _(folder):
    from core_models.data.ntu import NTUReader

    data, secret = served_root(folder)
    os.symlink(secret, data / "ntu" / "S001C001P001R001A002.skeleton")

    def load():  # a reader listed without the confinement: the load itself must refuse
        os.environ["ADL_DATA_ROOTS"] = str(data)
        try:
            from app_support.sources import dataset_clip

            reader = NTUReader(data / "ntu")
            return dataset_clip(reader, "S001C001P001R001A002").num_frames
        finally:
            os.environ.pop("ADL_DATA_ROOTS", None)

    return load, None


@case("serve/etc-passwd-link", match="outside the folders this server offers", forbidden="root:")
def _(folder):
    from core_models.data.ntu import NTUReader

    data, _ = served_root(folder)
    os.symlink("/etc/passwd", data / "ntu" / "S001C001P001R001A003.skeleton")

    def load():
        os.environ["ADL_DATA_ROOTS"] = str(data)
        try:
            from app_support.sources import dataset_clip

            return dataset_clip(NTUReader(data / "ntu"), "S001C001P001R001A003").num_frames
        finally:
            os.environ.pop("ADL_DATA_ROOTS", None)

    return load, None


@case("serve/fifo-in-a-root", expect="ok", check=skipped("FIFO", clips=1))
def _(folder):
    data, _ = served_root(folder)
    fifo(data / "ntu" / "S001C001P001R001A004.skeleton")
    return (lambda: served(data, "ntu", str(data / "ntu"))), None


@case("serve/not-a-dataset-inside-a-root", match="no NTU sample found")
def _(folder):
    data, _ = served_root(folder)
    (data / "empty").mkdir()
    return (lambda: served(data, "ntu", str(data / "empty"))), None


@case("serve/unknown-dataset-kind", match="unknown dataset kind")
def _(folder):
    data, _ = served_root(folder)
    return (lambda: served(data, "../../etc", str(data / "ntu"))), None


@case("serve/valid-folder", expect="ok", check=lambda r: None if r.get("frames") == 4 else str(r))
def _(folder):
    data, _ = served_root(folder)
    return (lambda: served(data, "ntu", str(data / "ntu"), load="S001C001P001R001A001")), None
