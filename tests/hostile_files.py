"""Hostile dataset and skeleton files for the corpus of tests/hostile.py (registered on import).

NTU RGB+D ``.skeleton``, N-UCLA per-frame files and images, Toyota Smarthome pose JSON, ``.npy``
and ``.csv`` skeletons and single videos: damaged, oversized, special (FIFOs, folders, links,
devices, unreadable) and valid-but-unusual files, each through the reader a user reaches.
"""

from __future__ import annotations

import io
import json
import os
import pickle
from pathlib import Path

import numpy as np
from hostile import (
    Payload,
    case,
    cases_like,
    csv_text,
    detection,
    equals,
    fifo,
    joints,
    npy_bytes,
    npy_with_header,
    ntu_dataset,
    ntu_text,
    nucla_dataset,
    nucla_text,
    png_header,
    pose_json,
    read_skeleton,
    shape_is,
    single,
    skipped,
    smarthome_dataset,
    tiny_video,
    warned,
    write,
)  # fmt: skip

# ================================================================================================
# NTU RGB+D .skeleton (read_skeleton: what an upload and load_single read)

NTU_BAD = {
    "empty": "",
    "whitespace-only": "  \n\n \t\n",
    "text-frame-count": "frames\n",
    "negative-frame-count": "-3\n",
    "frame-count-99999999": "99999999\n",
    "frame-count-1e30": str(10**30) + "\n",
    "frame-count-5000-digits": "9" * 5000 + "\n",
    "frame-count-float": "4.5\n",
    "truncated-after-body-line": "\n".join(ntu_text(1).splitlines()[:3]) + "\n",
    "truncated-mid-joints": "\n".join(ntu_text(1).splitlines()[:15]) + "\n",
    "negative-body-count": "1\n-1\n",
    "body-count-1e9": "1\n1000000000\n",
    "joint-count-0": ntu_text(1).replace("\n25\n", "\n0\n", 1),
    "joint-count-26": ntu_text(1).replace("\n25\n", "\n26\n", 1),
    "joint-count-1e12": ntu_text(1).replace("\n25\n", f"\n{10**12}\n", 1),
    "joint-line-11-values": ntu_text(1).replace(" 1 0 0 0 2\n", " 1 0 0 2\n", 1),
    "joint-line-text": ntu_text(1).replace(" 200 300 ", " two hundred ", 1),
    "nan-coordinate": ntu_text(2).replace("0.0000 0.8000", "nan 0.8000", 1),
    "inf-coordinate": ntu_text(2).replace("0.0000 0.8000", "inf 0.8000", 1),
    "coordinate-1e39": ntu_text(2).replace("0.0000 0.8000", "1e39 0.8000", 1),
    "coordinate-1e7": ntu_text(2).replace("0.0000 0.8000", "1e7 0.8000", 1),
    "colour-pixel-1e39": ntu_text(2).replace(" 200 300 100 ", " 200 300 1e39 ", 1),
    "lines-after-last-frame": ntu_text(2) + "1\n2\n3\n",
    "zero-frames": "0\n",
    "no-body-in-any-frame": "3\n0\n0\n0\n",
    "body-line-9-values": ntu_text(1).replace("0 1 0 1 0 0 0.01 -0.02 2", "0 1 0 1 0 0 0.01 -0.02", 1),
    "100000-empty-frames": "100000\n" + "0\n" * 100000,
    "frame-count-over-bound": "1000000\n" + "0\n" * 10,
}
NTU_BAD_BYTES = {
    "non-ascii": ntu_text(1).encode().replace(b"0.0000", b"0.0\xe90", 1),
    "nul-bytes": b"4\x00\x00\n" + ntu_text(1).encode(),
    "binary-garbage": bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8)),
    "one-10mb-line": b"1" * (10 * 1024**2),
    "too-large-33mb": b"0\n" * (17 * 1024**2),
}


@cases_like("ntu", NTU_BAD)
def _ntu_bad(folder: Path, text: str):
    path = write(folder / "S001C001P001R001A001.skeleton", text)
    return (lambda: read_skeleton(path)), path


@cases_like("ntu", NTU_BAD_BYTES)
def _ntu_bad_bytes(folder: Path, data: bytes):
    path = write(folder / "S001C001P001R001A001.skeleton", data)
    return (lambda: read_skeleton(path)), path


@cases_like(
    "ntu-valid", {"crlf": "\r\n", "cr-only": "\r", "lf": "\n"}, expect="ok", check=shape_is((4, 2, 25, 3))
)
def _ntu_newlines(folder: Path, newline: str):
    path = write(folder / "a.skeleton", ntu_text(4, newline))
    return (lambda: read_skeleton(path)), None


@case("ntu-valid/trailing-blank-lines", expect="ok", check=shape_is((4, 2, 25, 3)))
def _(folder):
    path = write(folder / "a.skeleton", ntu_text(4) + "\n\n   \n")
    return (lambda: read_skeleton(path)), None


@case("ntu-valid/100-digit-body-id", expect="ok", check=shape_is((4, 2, 25, 3)))
def _(folder):
    path = write(folder / "a.skeleton", ntu_text(4).replace("72057594037931101", "7" * 100))
    return (lambda: read_skeleton(path)), None


SPECIAL = {
    "fifo": lambda p: fifo(p),
    "folder": lambda p: p.mkdir(parents=True),
    "link-loop": lambda p: (p.parent.mkdir(parents=True, exist_ok=True), os.symlink(p.name, p)),
    "broken-link": lambda p: (p.parent.mkdir(parents=True, exist_ok=True), os.symlink("/nonexistent/x", p)),
    "char-device": lambda p: (p.parent.mkdir(parents=True, exist_ok=True), os.symlink("/dev/zero", p)),
}


@cases_like("ntu-special", SPECIAL)
def _ntu_special(folder: Path, make):
    path = folder / "S001C001P001R001A002.skeleton"
    make(path)
    return (lambda: read_skeleton(path)), path


def unreadable(path: Path) -> Path:
    path.chmod(0)
    return path


@case("ntu-special/unreadable", unprivileged=True, match="permission denied")
def _(folder):
    path = unreadable(write(folder / "S001C001P001R001A001.skeleton", ntu_text()))
    return (lambda: read_skeleton(path)), path


# -- the NTU dataset reader over a folder -------------------------------------------------------


def ntu_root(folder: Path) -> Path:
    write(folder / "ntu" / "S001C001P001R001A001.skeleton", ntu_text())
    return folder / "ntu"


@cases_like(
    "ntu-reader", {k: v for k, v in SPECIAL.items() if k != "link-loop"}, expect="ok",
    check=skipped("named like a data file", clips=1),
)  # fmt: skip
def _ntu_reader_special(folder: Path, make):
    root = ntu_root(folder)
    make(root / "S001C001P001R001A002.skeleton")
    return (lambda: ntu_dataset(root)), None


@case("ntu-reader/fifo-video", expect="ok", check=skipped("FIFO", clips=1))
def _(folder):
    root = ntu_root(folder)
    fifo(root / "S001C001P001R001A001_rgb.avi")
    return (lambda: ntu_dataset(root)), None


@case("ntu-reader/link-loop-folder", expect="ok", check=lambda r: None if r["clips"] else "no clip")
def _(folder):
    root = ntu_root(folder)
    (root / "sub").mkdir()
    os.symlink("..", root / "sub" / "loop")
    return (lambda: ntu_dataset(root)), None


@case("ntu-reader/only-a-fifo")
def _(folder):
    fifo(folder / "ntu" / "S001C001P001R001A002.skeleton")
    return (lambda: ntu_dataset(folder / "ntu")), folder / "ntu"


@case("ntu-reader/unreadable-subfolder", expect="ok", unprivileged=True, check=skipped("unreadable", clips=1))
def _(folder):
    root = ntu_root(folder)
    write(root / "locked" / "S001C001P001R001A002.skeleton", ntu_text())
    (root / "locked").chmod(0)
    return (lambda: ntu_dataset(root)), None


@case("ntu-reader/unreadable-skeleton", unprivileged=True, match="permission denied")
def _(folder):
    root = ntu_root(folder)
    path = unreadable(root / "S001C001P001R001A001.skeleton")
    return (lambda: ntu_dataset(root)), path


TRUTH_BAD = {
    "deep-nesting": "[" * 100_000 + "]" * 100_000,
    "400-digit-interval": '{"part_names": [], "parts": [], "interval": [' + "9" * 400 + ", 1]}",
    "list-top-level": "[1, 2]",
    "not-json": "{part_names",
}


@cases_like("ntu-truth", TRUTH_BAD)
def _ntu_truth(folder: Path, text: str):
    root = ntu_root(folder)
    path = write(root / "S001C001P001R001A001.truth.json", text)
    return (lambda: ntu_dataset(root)), path


# ================================================================================================
# Northwestern-UCLA per-frame skeleton files, through the reader

NUCLA_BAD = {
    "rows-not-whole-blocks": nucla_text() + "0.1,0.2,0.3,2\n",
    "text-header": "skeleton\n" + "\n".join(nucla_text().splitlines()[1:]) + "\n",
    "three-values": nucla_text().replace(",2\n", "\n", 1),
    "five-values": nucla_text().replace(",2\n", ",2,7\n", 1),
    "non-numeric": nucla_text().replace("0.000,0.500", "zero,0.500", 1),
    "nan": nucla_text().replace("0.000,0.500", "nan,0.500", 1),
    "inf": nucla_text().replace("0.000,0.500", "inf,0.500", 1),
    "coordinate-1e39": nucla_text().replace("0.000,0.500", "1e39,0.500", 1),
    "coordinate-1e8": nucla_text().replace("0.000,0.500", "1e8,0.500", 1),
    "400-digit-number": nucla_text().replace("0.000,0.500", "9" * 400 + ",0.500", 1),
    "non-ascii": nucla_text().replace("0.000", "0.0\u00e90", 1),
    "too-large-2mb": nucla_text() * 6000,
}


def nucla_sample(folder: Path, frames: int = 3) -> Path:
    sample = folder / "nucla" / "view_1" / "a01_s01_e00"
    for t in range(frames):
        write(sample / f"frame_{t}_tc_{1000 + t}_skeletons.txt", nucla_text())
    return sample


@cases_like("nucla", NUCLA_BAD)
def _nucla_bad(folder: Path, text: str):
    sample = nucla_sample(folder)
    path = write(sample / "frame_1_tc_1001_skeletons.txt", text)
    return (lambda: nucla_dataset(folder / "nucla")), path


@cases_like("nucla-special", {k: v for k, v in SPECIAL.items()}, expect="ok", check=warned("skipped"))
def _nucla_special(folder: Path, make):
    sample = nucla_sample(folder)
    make(sample / "frame_9_tc_1009_skeletons.txt")
    return (lambda: nucla_dataset(folder / "nucla")), None


@case("nucla-special/only-fifos", expect="ok", check=skipped("named like a data file", clips=0))
def _(folder):
    fifo(folder / "nucla" / "view_1" / "a01_s01_e00" / "frame_0_skeletons.txt")
    return (lambda: nucla_dataset(folder / "nucla")), None


@case("nucla/all-frames-empty", match="no skeleton in any frame")
def _(folder):
    sample = folder / "nucla" / "view_1" / "a01_s01_e00"
    for t in range(3):
        write(sample / f"frame_{t}_skeletons.txt", "")
    return (lambda: nucla_dataset(folder / "nucla")), sample


@case("nucla/unreadable-frame", unprivileged=True, match="permission denied")
def _(folder):
    sample = nucla_sample(folder)
    path = unreadable(sample / "frame_1_tc_1001_skeletons.txt")
    return (lambda: nucla_dataset(folder / "nucla")), path


@case("nucla/unreadable-view-folder", unprivileged=True)
def _(folder):
    nucla_sample(folder)
    (folder / "nucla" / "view_1").chmod(0)
    return (lambda: nucla_dataset(folder / "nucla")), folder / "nucla" / "view_1"


def nucla_images(folder: Path) -> Path:
    import cv2

    sample = nucla_sample(folder)
    for t in range(3):
        ok, jpg = cv2.imencode(".jpg", np.full((24, 32, 3), 40 * t, np.uint8))
        write(sample / f"frame_{t}_tc_{1000 + t}_rgb.jpg", jpg.tobytes())
    return sample


IMAGES_BAD = {
    "garbage-jpg": b"\xff\xd8\xff\xe0 not really a jpeg" * 10,
    "header-60000x60000": png_header(60000, 60000),
    "header-0x0": png_header(0, 0),
    "empty": b"",
}


@cases_like("nucla-image", IMAGES_BAD)
def _nucla_image(folder: Path, data: bytes):
    sample = nucla_images(folder)
    path = write(sample / "frame_1_tc_1001_rgb.jpg", data)
    return (lambda: nucla_dataset(folder / "nucla", with_video=True)), path


@case("nucla-image/different-sizes", match="the size of the clip's first frame")
def _(folder):
    import cv2

    sample = nucla_images(folder)
    path = write(
        sample / "frame_2_tc_1002_rgb.jpg", cv2.imencode(".jpg", np.zeros((48, 32, 3), np.uint8))[1].tobytes()
    )
    return (lambda: nucla_dataset(folder / "nucla", with_video=True)), path


@case("nucla-image/valid", expect="ok", check=lambda r: None if r["frames"] == 3 else f"{r['frames']} frames")
def _(folder):
    nucla_images(folder)
    return (lambda: nucla_dataset(folder / "nucla", with_video=True)), None


# ================================================================================================
# Toyota Smarthome LCR-Net++ pose JSON, through the reader

SMARTHOME_NAME = "Cook.Cut_p03_r00_v01_c02.json"


def with_detection(**changes) -> str:
    data = pose_json()
    data["frames"][1][0].update(changes)
    return json.dumps(data)


SMARTHOME_BAD = {
    "nested-100k-lists": "[" * 100_000 + "]" * 100_000,
    "nested-100k-objects": '{"a":' * 100_000 + "1" + "}" * 100_000,
    "nested-frames-5000": json.dumps(pose_json()).replace(
        '"frames": [', '"frames": [' + "[" * 5000 + "]" * 5000 + ", "
    ),
    "400-digit-integer": with_detection(pose3d=[0.123456] + [0.0] * 38).replace("0.123456", "9" * 400),
    "5000-digit-integer": with_detection(cumscore=0).replace('"cumscore": 0', '"cumscore": ' + "9" * 5000),
    "1e400": with_detection(cumscore=0).replace('"cumscore": 0', '"cumscore": 1e400'),
    "nan-literal": with_detection(cumscore=0).replace('"cumscore": 0', '"cumscore": NaN'),
    "infinity-in-pose": with_detection(pose2d=[0.123456] * 26).replace("0.123456", "Infinity", 1),
    "coordinate-1e39": with_detection(pose3d=[1e39] + [0.0] * 38),
    "top-level-list": json.dumps([pose_json()]),
    "top-level-string": json.dumps("frames"),
    "njts-missing": json.dumps({"frames": pose_json()["frames"]}),
    "njts-12": json.dumps({**pose_json(), "njts": 12}),
    "njts-true": json.dumps({**pose_json(), "njts": True}),
    "njts-string": json.dumps({**pose_json(), "njts": "13"}),
    "njts-float": json.dumps({**pose_json(), "njts": 13.0}),
    "njts-400-digits": json.dumps({**pose_json(), "njts": 0}).replace('"njts": 0', '"njts": ' + "1" * 400),
    "frames-dict": json.dumps({**pose_json(), "frames": {"0": []}}),
    "frames-missing": json.dumps({"njts": 13}),
    "detection-not-dict": json.dumps({**pose_json(), "frames": [[[1, 2, 3]]]}),
    "pose2d-25-values": with_detection(pose2d=[1.0] * 25),
    "pose3d-strings": with_detection(pose3d=["1"] * 39),
    "pose2d-bools": with_detection(pose2d=[True] * 26),
    "pose3d-nested": with_detection(pose3d=[[1.0]] * 39),
    "cumscore-missing": json.dumps({**pose_json(), "frames": [[{"pose2d": [0] * 26, "pose3d": [0] * 39}]]}),
    "cumscore-string": with_detection(cumscore="high"),
    "zero-frames": json.dumps({**pose_json(), "frames": []}),
    "all-frames-empty": json.dumps({**pose_json(), "frames": [[], [], []]}),
    "truncated": json.dumps(pose_json())[:200],
    "trailing-garbage": json.dumps(pose_json()) + " }{",
    "huge-string": json.dumps({**pose_json(), "frames": [], "K": "x" * (8 * 1024**2)}),
}
SMARTHOME_BAD_BYTES = {
    "invalid-utf8": json.dumps(pose_json()).encode().replace(b'"K"', b'"K\xff"'),
    "too-large-33mb": b'{"njts": 13, "frames": [' + b"[]," * (11 * 1024**2 + 10) + b"[]]}",
}


@cases_like("smarthome", SMARTHOME_BAD)
def _smarthome_bad(folder: Path, text: str):
    path = write(folder / "smarthome" / SMARTHOME_NAME, text)
    return (lambda: smarthome_dataset(folder / "smarthome")), path


@cases_like("smarthome", SMARTHOME_BAD_BYTES)
def _smarthome_bad_bytes(folder: Path, data: bytes):
    path = write(folder / "smarthome" / SMARTHOME_NAME, data)
    return (lambda: smarthome_dataset(folder / "smarthome")), path


def frames_are(n: int):
    return lambda r: None if r.get("frames") == n else f"{r.get('frames')} frames, expected {n}"


@case("smarthome-valid/bom", expect="ok", check=frames_are(4))
def _(folder):
    write(folder / "smarthome" / SMARTHOME_NAME, b"\xef\xbb\xbf" + json.dumps(pose_json()).encode())
    return (lambda: smarthome_dataset(folder / "smarthome")), None


@case("smarthome-valid/duplicate-keys", expect="ok", check=frames_are(4))
def _(folder):
    write(folder / "smarthome" / SMARTHOME_NAME, '{"njts": 99, ' + json.dumps(pose_json())[1:])
    return (lambda: smarthome_dataset(folder / "smarthome")), None


@case("smarthome-valid/some-empty-frames", expect="ok", check=warned("without a detected person"))
def _(folder):
    data = pose_json()
    data["frames"][2] = []
    write(folder / "smarthome" / SMARTHOME_NAME, json.dumps(data))
    return (lambda: smarthome_dataset(folder / "smarthome")), None


@case("smarthome-valid/1000-detections-in-a-frame", expect="ok", check=frames_are(4))
def _(folder):
    data = pose_json()
    data["frames"][0] = [detection(i, score=i) for i in range(1000)]
    write(folder / "smarthome" / SMARTHOME_NAME, json.dumps(data))
    return (lambda: smarthome_dataset(folder / "smarthome")), None


@case("smarthome-valid/integer-coordinates", expect="ok", check=frames_are(4))
def _(folder):
    data = pose_json()
    data["frames"][0][0]["pose2d"] = list(range(26))
    write(folder / "smarthome" / SMARTHOME_NAME, json.dumps(data))
    return (lambda: smarthome_dataset(folder / "smarthome")), None


@cases_like("smarthome-special", {k: v for k, v in SPECIAL.items() if k != "link-loop"})
def _smarthome_special(folder: Path, make):
    make(folder / "smarthome" / SMARTHOME_NAME)
    return (lambda: smarthome_dataset(folder / "smarthome")), folder / "smarthome"


@case("smarthome-special/fifo-beside-a-clip", expect="ok", check=skipped("FIFO", clips=1))
def _(folder):
    write(folder / "smarthome" / SMARTHOME_NAME, json.dumps(pose_json()))
    fifo(folder / "smarthome" / "Walk_p03_r00_v01_c02.json")
    return (lambda: smarthome_dataset(folder / "smarthome")), None


@case("smarthome-special/unreadable", unprivileged=True, match="permission denied")
def _(folder):
    path = unreadable(write(folder / "smarthome" / SMARTHOME_NAME, json.dumps(pose_json())))
    return (lambda: smarthome_dataset(folder / "smarthome")), path


# ================================================================================================
# .npy skeletons (read with the header first; never unpickled)

NPY_BAD = {
    "header-1e12-frames": npy_with_header(
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000000, 25, 3), }"
    ),
    "header-1e6x2x25x3": npy_with_header(
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000, 2, 25, 3), }"
    ),
    "header-negative-shape": npy_with_header(
        "{'descr': '<f4', 'fortran_order': False, 'shape': (-5, 25, 3), }"
    ),
    "header-code": npy_with_header(
        "{'descr': __import__('os').getcwd(), 'fortran_order': False, 'shape': (1,)}"
    ),
    "header-not-a-dict": npy_with_header("[1, 2, 3]"),
    "header-missing-shape": npy_with_header("{'descr': '<f4', 'fortran_order': False, }"),
    "header-length-4gb": b"\x93NUMPY\x02\x00\xff\xff\xff\xff{'descr'",
    "bad-magic": b"\x93NUMPZ\x01\x00" + b"\x00" * 120,
    "version-9": b"\x93NUMPY\x09\x00" + b"\x00" * 120,
    "truncated-data": npy_bytes(joints(6))[:-100],
    "trailing-data": npy_bytes(joints(6)) + b"\x00" * 64,
    "empty-file": b"",
    "npz-archive": b"PK\x03\x04" + b"\x00" * 200,
    "all-nan": npy_bytes(np.full((6, 1, 25, 3), np.nan, np.float32)),
    "inf": npy_bytes(np.where(np.arange(450).reshape(6, 1, 25, 3) == 7, np.inf, 0.5).astype(np.float32)),
    "float64-1e39": npy_bytes(np.where(np.arange(450).reshape(6, 1, 25, 3) == 7, 1e39, 0.5)),
    "int64-huge": npy_bytes(np.full((6, 1, 25, 3), 2**62, np.int64)),
    "complex": npy_bytes(np.zeros((6, 25, 3), np.complex64)),
    "bool": npy_bytes(np.zeros((6, 25, 3), bool)),
    "structured": npy_bytes(np.zeros((6, 25), dtype=[("x", "f4"), ("y", "f4")])),
    "strings": npy_bytes(np.full((6, 25, 3), "1.0")),
    "subarray-dtype": npy_with_header(
        "{'descr': [('a', '<f4', (3,))], 'fortran_order': False, 'shape': (6, 25), }"
    ),
    "two-axes": npy_bytes(np.zeros((6, 75), np.float32)),
    "five-axes": npy_bytes(np.zeros((6, 1, 1, 25, 3), np.float32)),
    "four-coordinates": npy_bytes(np.zeros((6, 25, 4), np.float32)),
    "empty-axis": npy_bytes(np.zeros((0, 25, 3), np.float32)),
    "17-joints": npy_bytes(np.zeros((6, 17, 3), np.float32)),
    "version-3-header": npy_bytes(joints(6), version=(3, 0)),
    "too-large-33mb": npy_bytes(np.zeros((40000, 3, 25, 3), np.float64)),
}


@cases_like("npy", NPY_BAD)
def _npy_bad(folder: Path, data: bytes):
    path = write(folder / "pose.npy", data)
    return (lambda: read_skeleton(path)), path


@case("npy/pickled-object-array", marker="pwned")
def _(folder):
    arr = np.empty(2, dtype=object)
    arr[0] = Payload(str(folder / "pwned"))
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=True)
    path = write(folder / "pose.npy", buf.getvalue())
    return (lambda: read_skeleton(path)), path


@case("npy/plain-pickle", marker="pwned")
def _(folder):
    path = write(folder / "pose.npy", pickle.dumps(Payload(str(folder / "pwned"))))
    return (lambda: read_skeleton(path)), path


NPY_VALID = {
    "fortran-order": np.asfortranarray(joints(6)),
    "big-endian-float64": joints(6).astype(">f8"),
    "int16": (joints(6) * 100).astype(np.int16),
    "float16": joints(6).astype(np.float16),
    "three-axes": joints(6)[:, 0],
    "two-persons-2d": joints(6, M=2, J=13, C=2) * 100,
    "version-2": joints(6),
}


def _npy_valid_check(result) -> str | None:
    return equals(result["want"])(result)


@cases_like("npy-valid", NPY_VALID, expect="ok", check=_npy_valid_check)
def _npy_valid(folder: Path, arr: np.ndarray):
    data = npy_bytes(arr, version=(2, 0)) if arr is NPY_VALID["version-2"] else npy_bytes(arr)
    path = write(folder / "pose.npy", data)
    want = np.asarray(arr, np.float32).reshape(6, -1, *arr.shape[-2:])
    return (lambda: {**read_skeleton(path), "want": want}), None


@case("npy-valid/mostly-nan-warned", expect="ok", check=warned("frames have no joint", "missing"))
def _(folder):
    arr = np.full((50, 1, 25, 3), np.nan, np.float32)
    arr[0, 0, 0] = [0.1, 0.2, 3.0]
    path = write(folder / "pose.npy", npy_bytes(arr))
    return (lambda: read_skeleton(path)), None


@cases_like("npy-special", SPECIAL)
def _npy_special(folder: Path, make):
    path = folder / "pose.npy"
    make(path)
    return (lambda: read_skeleton(path)), path


# ================================================================================================
# .csv skeletons

CSV_HEAD = "frame,person,joint,x,y\n"
CSV_BAD = {
    "product-of-caps-12gb": "frame,person,joint,x,y\n99999,15,999,1,2\n",
    "frame-at-cap": CSV_HEAD + "100000,0,0,1,2\n",
    "person-at-cap": CSV_HEAD + "0,16,0,1,2\n",
    "joint-at-cap": CSV_HEAD + "0,0,1000,1,2\n",
    "negative-index": CSV_HEAD + "0,0,-1,1,2\n",
    "non-numeric": CSV_HEAD + "0,0,0,one,2\n",
    "float-index": CSV_HEAD + "1.5,0,0,1,2\n",
    "5000-digit-index": CSV_HEAD + "9" * 5000 + ",0,0,1,2\n",
    "wrong-column-count": CSV_HEAD + "0,0,0,1\n",
    "wrong-header": "t,m,j,x,y\n0,0,0,1,2\n",
    "header-only": CSV_HEAD,
    "empty": "",
    "blank-lines-only": "\n\n  \n",
    "repeated-triple": CSV_HEAD + "0,0,0,1,2\n0,0,0,3,4\n",
    "inf": CSV_HEAD + "0,0,0,inf,2\n",
    "coordinate-1e39": CSV_HEAD + "0,0,0,1e39,2\n",
    "coordinate-1e7": CSV_HEAD + "0,0,0,1e7,2\n",
    "field-over-128k": CSV_HEAD + '0,0,0,"' + "1" * 200_000 + '",2\n',
    "nul-byte": CSV_HEAD + "0,0,0,1\x00,2\n",
    "unclosed-quote": CSV_HEAD + '0,0,0,"1,2\n0,0,1,3,4\n',
    "all-nan": CSV_HEAD + "".join(f"0,0,{j},nan,nan\n" for j in range(25)),
    "17-joints": CSV_HEAD + "".join(f"0,0,{j},1,2\n" for j in range(17)),
}
CSV_BAD_BYTES = {
    "non-utf8": (CSV_HEAD + "0,0,0,1,2\n").encode() + b"\xff\xfe\n",
    "too-large-33mb": (CSV_HEAD * (33 * 1024**2 // len(CSV_HEAD) + 1)).encode(),
}


@cases_like("csv", CSV_BAD)
def _csv_bad(folder: Path, text: str):
    path = write(folder / "pose.csv", text)
    return (lambda: read_skeleton(path)), path


@cases_like("csv", CSV_BAD_BYTES)
def _csv_bad_bytes(folder: Path, data: bytes):
    path = write(folder / "pose.csv", data)
    return (lambda: read_skeleton(path)), path


@case("csv-valid/two-rows-mostly-missing", expect="ok", check=warned("frames have no joint", "missing"))
def _(folder):
    path = write(folder / "pose.csv", CSV_HEAD + "0,0,0,1,2\n19,0,24,3,4\n")
    return (lambda: read_skeleton(path)), None


CSV_VALID = {
    "lf": csv_text(joints(4, J=13, C=2)),
    "crlf": csv_text(joints(4, J=13, C=2), "\r\n"),
    "bom": "\ufeff" + csv_text(joints(4, J=13, C=2)),
    "rows-reversed": CSV_HEAD + "".join(reversed(csv_text(joints(4, J=13, C=2)).splitlines(True)[1:])),
    "blank-lines": csv_text(joints(4, J=13, C=2)).replace("\n", "\n\n"),
    "quoted-numbers": CSV_HEAD
    + "".join(f'"{t}","0","{j}","1.5","2.5"\n' for t in range(4) for j in range(13)),
    "3d-20-joints": csv_text(joints(4, J=20, C=3)),
}


@cases_like(
    "csv-valid", CSV_VALID, expect="ok", check=lambda r: None if r["shape"][0] == 4 else str(r["shape"])
)
def _csv_valid(folder: Path, text: str):
    path = write(folder / "pose.csv", text)
    return (lambda: read_skeleton(path)), None


@case("csv-valid/400k-rows", expect="ok", check=shape_is((16000, 1, 25, 2)))
def _(folder):
    rows = "".join(f"{t},0,{j},{t % 97}.5,{j}.25\n" for t in range(16000) for j in range(25))
    path = write(folder / "pose.csv", CSV_HEAD + rows)
    return (lambda: read_skeleton(path)), None


@cases_like("csv-special", SPECIAL)
def _csv_special(folder: Path, make):
    path = folder / "pose.csv"
    make(path)
    return (lambda: read_skeleton(path)), path


# ================================================================================================
# single videos (load_single): what OpenCV would be asked to open

VIDEO_BAD = {
    "garbage-avi": b"RIFF....AVI not a real video" * 10,
    "empty-avi": b"",
}


@cases_like("video", VIDEO_BAD)
def _video_bad(folder: Path, data: bytes):
    path = write(folder / "clip.avi", data)
    return (lambda: single(path)), path


@cases_like("video-special", {k: v for k, v in SPECIAL.items() if k != "link-loop"})
def _video_special(folder: Path, make):
    path = folder / "clip.avi"
    make(path)
    return (lambda: single(path)), path


@case("video/blank-frames", match="blank")
def _(folder):
    from core_models.data.video import write_video

    path = write_video(folder / "clip.avi", np.zeros((12, 24, 32, 3), np.uint8), fps=30)  # all black
    return (lambda: single(path)), path


@case("video-special/unreadable", unprivileged=True, match="permission denied")
def _(folder):
    path = unreadable(tiny_video(folder / "clip.avi"))
    return (lambda: single(path)), path


@case("video-valid/with-two-row-csv", expect="ok", check=warned("frames have no joint", "missing"))
def _(folder):
    video = tiny_video(folder / "clip.avi", frames=20)
    path = write(folder / "pose.csv", CSV_HEAD + "0,0,0,1,2\n19,0,12,3,4\n")
    return (lambda: single(video, path)), None
