"""Property-based fuzzing (hypothesis) of the five skeleton parsers.

For each parser, two properties:

* anything (random bytes, random text, valid files with random damage) gives either a result of
  the documented shape and dtype or a ``DataFormatError``, never another exception, within a time
  bound;
* a valid file written from random data reads back exactly (the parser is not merely silent).

Profiles: ``dev`` (default, 60 examples per property, random) and ``ci`` (chosen when ``CI`` is
set: 30 examples, derandomised, so a CI run is repeatable). ``HYPOTHESIS_PROFILE`` overrides.
The hostile corpus (tests/hostile.py) holds the named cases; this file searches around them.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from core_models.data.errors import DataFormatError
from core_models.data.files import MAX_COORDINATE
from core_models.data.ntu import NTUBody, read_skeleton_file, write_skeleton_file
from core_models.data.nucla import read_skeletons_txt
from core_models.data.single import _read_csv, _read_npy
from core_models.data.smarthome import read_pose_json

settings.register_profile(
    "dev", max_examples=60, deadline=5000, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
settings.register_profile(
    "ci", max_examples=30, deadline=None, derandomize=True, database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)  # fmt: skip
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


def parses_or_refuses(parse, path: Path):
    """The parser's result, or None when it raised DataFormatError naming the file (anything else fails)."""
    try:
        return parse(path)
    except DataFormatError as e:
        assert path.name in str(e), f"the error does not name the file: {e}"
        return None


def one_file(tmp_path_factory, name: str, data: bytes | str) -> Path:
    path = tmp_path_factory.mktemp("fuzz") / name
    if isinstance(data, str):
        path.write_text(data, newline="")
    else:
        path.write_bytes(data)
    return path


def finite(lo: float = -1e3, hi: float = 1e3):
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False, width=32)


# -- damage: what a truncated download, an editor or a hostile user does to a text file ----------


@st.composite
def damaged_lines(draw, text: str) -> str:
    lines = text.splitlines()
    for _ in range(draw(st.integers(1, 3))):
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        how = draw(st.sampled_from(["delete", "duplicate", "replace", "truncate", "token"]))
        if how == "delete":
            del lines[i]
        elif how == "duplicate":
            lines.insert(i, lines[i])
        elif how == "replace":
            lines[i] = draw(st.text(max_size=40))
        elif how == "truncate":
            lines = lines[:i]
        else:
            tokens = lines[i].split() or [""]
            j = draw(st.integers(0, len(tokens) - 1))
            tokens[j] = draw(
                st.sampled_from(["nan", "inf", "-inf", "1e39", "-0", "9" * 30, "", "x", "1e400", "0x10"])
            )
            lines[i] = " ".join(tokens)
    return "\n".join(lines) + draw(st.sampled_from(["", "\n", "\r\n"]))


# ================================================================================================
# NTU RGB+D .skeleton


@st.composite
def ntu_frames(draw) -> list[list[NTUBody]]:
    T = draw(st.integers(1, 5))
    ids = draw(st.lists(st.integers(0, 2**63 - 1), min_size=1, max_size=3, unique=True))
    frames = []
    for _ in range(T):
        bodies = []
        for body_id in draw(st.lists(st.sampled_from(ids), max_size=3, unique=True)):
            # arrays() draws a fill value and only some elements on their own, so a file of up to
            # 5 x 3 x 300 numbers stays within the entropy hypothesis allows for one example
            joints = draw(hnp.arrays(np.float64, (25, 12), elements=finite()))
            joints[:, 11] = np.round(joints[:, 11])
            info = draw(hnp.arrays(np.float64, 9, elements=finite()))
            bodies.append(NTUBody(body_id, info, joints))
        frames.append(bodies)
    return frames


@given(frames=ntu_frames(), newline=st.sampled_from(["\n", "\r\n", "\r"]))
def test_ntu_skeleton_files_read_back_what_was_written(tmp_path_factory, frames, newline):
    path = tmp_path_factory.mktemp("ntu") / "S001C001P001R001A001.skeleton"
    write_skeleton_file(path, frames, newline=newline)
    back = read_skeleton_file(path)
    assert [len(f) for f in back] == [len(f) for f in frames]
    for got_frame, want_frame in zip(back, frames):
        for got, want in zip(got_frame, want_frame):
            assert got.body_id == want.body_id
            np.testing.assert_allclose(got.joints[:, :11], want.joints[:, :11], rtol=1e-6, atol=1e-6)


NTU_VALID = "2\n" + ("1\n7 0 1 0 1 0 0 0 0 2\n25\n" + "0.1 0.2 3 200 300 10 20 1 0 0 0 2\n" * 25) * 2


@given(data=st.one_of(st.binary(max_size=2000), st.text(max_size=2000), damaged_lines(NTU_VALID)))
def test_ntu_parser_returns_frames_or_a_clear_error(tmp_path_factory, data):
    path = one_file(tmp_path_factory, "S001C001P001R001A001.skeleton", data)
    frames = parses_or_refuses(read_skeleton_file, path)
    if frames is not None:
        for bodies in frames:
            for b in bodies:
                assert b.joints.shape == (25, 12) and np.abs(b.joints[:, :7]).max() <= MAX_COORDINATE


# ================================================================================================
# Northwestern-UCLA per-frame skeleton files


@st.composite
def nucla_skeletons(draw) -> np.ndarray:
    S = draw(st.integers(0, 3))
    values = draw(st.lists(finite(-10, 10), min_size=S * 80, max_size=S * 80))
    return np.array(values, dtype=np.float64).reshape(S, 20, 4)


@given(skeletons=nucla_skeletons(), newline=st.sampled_from(["\n", "\r\n"]))
def test_nucla_files_read_back_what_was_written(tmp_path_factory, skeletons, newline):
    rows = []
    for s, sk in enumerate(skeletons):
        rows.append(f"{s + 1},{len(skeletons)}")
        rows += [",".join(repr(float(v)) for v in joint) for joint in sk]
    path = one_file(tmp_path_factory, "f_skeletons.txt", newline.join(rows) + newline)
    np.testing.assert_array_equal(read_skeletons_txt(path), skeletons)


NUCLA_VALID = "1,1\n" + "0.1,0.2,2.5,2\n" * 20


@given(data=st.one_of(st.binary(max_size=2000), st.text(max_size=2000), damaged_lines(NUCLA_VALID)))
def test_nucla_parser_returns_skeletons_or_a_clear_error(tmp_path_factory, data):
    path = one_file(tmp_path_factory, "frame_1_skeletons.txt", data)
    out = parses_or_refuses(read_skeletons_txt, path)
    if out is not None:
        assert out.ndim == 3 and out.shape[1:] == (20, 4) and np.isfinite(out[:, :, :3]).all()


# ================================================================================================
# Toyota Smarthome LCR-Net++ pose JSON

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
    max_leaves=40,
)


@st.composite
def detections(draw) -> dict:
    return {
        "pose2d": draw(st.lists(finite(0, 2000), min_size=26, max_size=26)),
        "pose3d": draw(st.lists(finite(-10, 10), min_size=39, max_size=39)),
        "cumscore": draw(finite(0, 100)),
    }


@given(frames=st.lists(st.lists(detections(), max_size=3), min_size=1, max_size=6))
def test_smarthome_files_read_back_the_best_detection(tmp_path_factory, frames):
    path = one_file(tmp_path_factory, "Walk_p03_r00_v01_c02.json", json.dumps({"njts": 13, "frames": frames}))
    joints3d, joints2d, info = read_pose_json(path)
    assert joints3d.shape == (len(frames), 1, 13, 3) and joints2d.shape == (len(frames), 1, 13, 2)
    assert info["empty_frames"] == sum(not f for f in frames)
    for t, dets in enumerate(frames):
        if dets:
            best = max(dets, key=lambda d: d["cumscore"])  # the first of equal scores, as the reader
            want = np.asarray(best["pose3d"], np.float32).reshape(3, 13).T
            np.testing.assert_allclose(joints3d[t, 0], want, rtol=1e-6)
        else:
            assert np.isnan(joints3d[t]).all()


@given(
    data=st.one_of(
        st.binary(max_size=1000),
        json_values.map(json.dumps),
        st.fixed_dictionaries({"njts": json_values, "frames": json_values}).map(json.dumps),
        st.fixed_dictionaries(
            {
                "njts": st.just(13),
                "frames": st.lists(st.lists(json_values | detections(), max_size=3), max_size=3),
            }
        ).map(json.dumps),
    )
)
def test_smarthome_parser_returns_poses_or_a_clear_error(tmp_path_factory, data):
    path = one_file(tmp_path_factory, "Walk_p03_r00_v01_c02.json", data)
    out = parses_or_refuses(read_pose_json, path)
    if out is not None:
        joints3d, joints2d, _ = out
        assert joints3d.dtype == np.float32 and joints3d.shape[1:] == (1, 13, 3)
        assert not np.isinf(joints3d).any() and not np.isinf(joints2d).any()


# ================================================================================================
# .npy skeletons

npy_shapes = st.one_of(
    hnp.array_shapes(min_dims=3, max_dims=3, max_side=6).map(lambda s: (*s[:2], s[2] % 2 + 2)),
    hnp.array_shapes(min_dims=4, max_dims=4, max_side=5).map(lambda s: (*s[:3], s[3] % 2 + 2)),
)
npy_dtypes = st.sampled_from(["<f4", ">f4", "<f8", ">f8", "<f2", "<i2", "<i4", "<u1", "<i8"])


@given(arr=npy_dtypes.flatmap(lambda dt: hnp.arrays(dt, npy_shapes)), fortran=st.booleans())
def test_npy_files_read_back_exactly_or_are_refused_for_their_values(tmp_path_factory, arr, fortran):
    buf = io.BytesIO()
    np.save(buf, np.asfortranarray(arr) if fortran else arr)
    path = one_file(tmp_path_factory, "pose.npy", buf.getvalue())
    out = parses_or_refuses(_read_npy, path)
    values = arr.astype(np.float64)
    usable = not (np.abs(values) > MAX_COORDINATE).any()  # NaN compares False: allowed
    assert (out is not None) == usable, f"read {out is not None}, values usable {usable}"
    if out is not None:
        want = values.astype(np.float32).reshape(out.shape)
        np.testing.assert_array_equal(out, want)


@given(
    header=st.dictionaries(
        st.sampled_from(["descr", "fortran_order", "shape"]),
        st.one_of(
            st.text(max_size=6), st.booleans(), st.tuples(st.integers(-5, 10**15), st.integers(-5, 30))
        ),
    ),
    tail=st.binary(max_size=200),
    raw=st.binary(max_size=300),
)
def test_npy_parser_refuses_hostile_headers_and_bytes(tmp_path_factory, header, tail, raw):
    text = repr(header).encode("utf-8")
    text += b" " * ((-(10 + len(text) + 1)) % 64) + b"\n"
    crafted = b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text + tail
    for data in (crafted, raw, b"\x93NUMPY\x01\x00" + raw):
        path = one_file(tmp_path_factory, "pose.npy", data)
        out = parses_or_refuses(_read_npy, path)
        if out is not None:
            assert out.dtype == np.float32 and out.ndim == 4 and out.shape[-1] in (2, 3)


# ================================================================================================
# .csv skeletons


@st.composite
def csv_arrays(draw) -> np.ndarray:
    T, M, J = draw(st.integers(1, 4)), draw(st.integers(1, 2)), draw(st.integers(1, 5))
    C = draw(st.sampled_from([2, 3]))
    values = draw(st.lists(finite() | st.just(float("nan")), min_size=T * M * J * C, max_size=T * M * J * C))
    arr = np.array(values, dtype=np.float32).reshape(T, M, J, C)
    assume(not np.isnan(arr[-1, -1, -1]).all())  # the largest index must appear in some row
    return arr


@given(arr=csv_arrays(), newline=st.sampled_from(["\n", "\r\n"]), shuffle=st.randoms(use_true_random=False))
def test_csv_files_read_back_what_was_written(tmp_path_factory, arr, newline, shuffle):
    T, M, J, C = arr.shape
    rows = [f"{t},{m},{j}," + ",".join(repr(float(v)) for v in arr[t, m, j])
            for t in range(T) for m in range(M) for j in range(J)]  # fmt: skip
    shuffle.shuffle(rows)
    head = "frame,person,joint,x,y" + (",z" if C == 3 else "")
    path = one_file(tmp_path_factory, "pose.csv", newline.join([head, *rows]) + newline)
    np.testing.assert_array_equal(_read_csv(path), arr)


CSV_VALID = "frame,person,joint,x,y\n0,0,0,1,2\n0,0,1,3,4\n1,0,0,5,6\n"


@given(
    data=st.one_of(
        st.binary(max_size=1500),
        st.text(max_size=1500),
        damaged_lines(CSV_VALID.replace(",", " ")).map(lambda t: t.replace(" ", ",")),
        st.lists(st.tuples(*[st.integers(-3, 10**6)] * 3, st.floats(), st.floats()), max_size=6).map(
            lambda rows: "frame,person,joint,x,y\n" + "".join(",".join(map(str, r)) + "\n" for r in rows)
        ),
    )
)
def test_csv_parser_returns_an_array_or_a_clear_error(tmp_path_factory, data):
    path = one_file(tmp_path_factory, "pose.csv", data)
    out = parses_or_refuses(_read_csv, path)
    if out is not None:
        assert out.dtype == np.float32 and out.ndim == 4 and out.shape[-1] in (2, 3)
        assert out.size <= 16_000_000 and not np.isinf(out).any()


@pytest.mark.parametrize("size", [1, 10, 100])
def test_the_parsers_stay_linear_in_the_file_size(tmp_path, size):
    """A file ten times larger takes at most about ten times longer (no quadratic blow-up)."""
    import time

    rows = "".join(f"{t},0,{j},1.5,2.5\n" for t in range(size * 20) for j in range(25))
    path = tmp_path / "pose.csv"
    path.write_text("frame,person,joint,x,y\n" + rows)
    t0 = time.perf_counter()
    assert _read_csv(path).shape == (size * 20, 1, 25, 2)
    assert time.perf_counter() - t0 < 0.05 * size + 2.0
