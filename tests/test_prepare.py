"""Layouts, the Clip container, temporal sampling, skeleton normalisation, crops and Datasets."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ntu_files import one_person, write_sample

from core_models.data.clip import Clip, ClipTruth
from core_models.data.crops import GREY, CropSpec, crop_boxes, crop_parts, part_boxes
from core_models.data.datasets import ClipDataset, InputSpec, make_item, prepare_clip, square_frames
from core_models.data.layouts import LAYOUTS, LCR13, NTU25, NUCLA20, REQUIRED_PARTS
from core_models.data.ntu import NTUReader
from core_models.data.sampling import sample_indices, segment_bounds, segment_indices
from core_models.data.skeleton import normalize_skeleton


@pytest.mark.parametrize("layout", list(LAYOUTS.values()), ids=list(LAYOUTS))
def test_layouts_are_trees_with_the_required_parts(layout):
    assert set(REQUIRED_PARTS) <= set(layout.part_names)
    roots = [j for j, p in enumerate(layout.parents) if p < 0]
    assert len(roots) == 1
    for j in range(layout.num_joints):  # every joint reaches the root without a cycle
        seen, k = set(), j
        while layout.parents[k] >= 0:
            assert k not in seen
            seen.add(k)
            k = layout.parents[k]
    assert layout.part_mask(["full_body"]).all()
    assert layout.part("left_hand").center is not None
    assert layout.joint_names[layout.part("left_hand").center].endswith("left")


def test_layout_sizes_and_named_joints():
    assert (NTU25.num_joints, NUCLA20.num_joints, LCR13.num_joints) == (25, 20, 13)
    assert NTU25.joint_names[NTU25.origin_joints[0]] == "spine_mid"
    assert len(NTU25.bones) == 24
    with pytest.raises(KeyError, match="has no body part"):
        NTU25.part("tail")


def test_clip_checks_shapes():
    with pytest.raises(ValueError, match=r"\(T, M, 25, 3\)"):
        Clip("x", NTU25, 0, "a", joints3d=np.zeros((4, 1, 20, 3)))
    with pytest.raises(ValueError, match="uint8"):
        Clip("x", NTU25, 0, "a", frames=np.zeros((4, 8, 8, 3), np.float32))
    clip = Clip("x", NUCLA20, 0, "a", joints3d=np.zeros((4, 1, 20, 3), np.float64))
    assert clip.joints3d.dtype == np.float32 and clip.num_frames == 4 and clip.num_persons == 1


def test_truth_round_trip_and_active_parts():
    parts = np.zeros((10, 3), bool)
    parts[2:5, 1] = True
    parts[8, 0] = True  # outside the interval: not counted
    truth = ClipTruth(("left_hand", "right_hand", "full_body"), parts, (2, 6), ("eat meal/snack",))
    assert truth.active_parts() == ("right_hand",)
    back = ClipTruth.from_json(truth.to_json())
    assert back.interval == (2, 6) and (back.parts == parts).all() and back.confusers == truth.confusers


def test_uniform_and_random_sampling():
    np.testing.assert_array_equal(sample_indices(10, 5), [1, 3, 5, 7, 9])
    np.testing.assert_array_equal(sample_indices(3, 6), [0, 0, 1, 1, 2, 2])  # short clip repeats
    rng = np.random.default_rng(0)
    draws = np.stack([sample_indices(100, 4, rng=rng) for _ in range(200)])
    for b in range(4):  # each draw stays in its bin and covers it
        assert draws[:, b].min() >= 25 * b and draws[:, b].max() < 25 * (b + 1)
        assert draws[:, b].max() - draws[:, b].min() > 15
    with pytest.raises(ValueError):
        sample_indices(0, 4)


def test_segments():
    assert segment_bounds(10, 3) == [(0, 3), (3, 6), (6, 10)]
    assert segment_bounds(2, 4) == [(0, 1), (0, 1), (1, 2), (1, 2)]  # never empty
    idx = segment_indices(12, 4, 2)
    assert idx.shape == (4, 2)
    for g, (s, e) in enumerate(segment_bounds(12, 4)):
        assert ((idx[g] >= s) & (idx[g] < e)).all()


def test_normalisation_origin_and_view():
    rng = np.random.default_rng(0)
    joints = rng.normal(size=(5, 2, 25, 3)).astype(np.float32)
    joints[0] = np.nan  # the first frame has no body: the first valid frame is used
    out = normalize_skeleton(joints, NTU25)
    np.testing.assert_allclose(out[1, 0, 1], 0, atol=1e-6)
    assert np.isnan(out[0]).all()
    view = normalize_skeleton(joints, NTU25, view=True)
    hips = view[1, 0, NTU25.left_hip] - view[1, 0, NTU25.right_hip]
    assert hips[0] > 0 and abs(hips[2]) < 1e-5
    # rotation keeps lengths
    np.testing.assert_allclose(
        np.linalg.norm(view[2, 0], axis=-1), np.linalg.norm(out[2, 0], axis=-1), rtol=1e-5
    )


def test_part_boxes_follow_the_joints():
    T = 6
    j = np.full((T, 25, 2), np.nan, np.float32)
    j[:, :, 0] = np.linspace(40, 60, 25)
    j[:, :, 1] = np.linspace(10, 110, 25)  # a 100 px tall person
    j[:, NTU25.part("left_hand").center] = [20.0, 50.0]
    j[3] = np.nan  # a frame without the person takes its neighbour's box
    boxes = part_boxes(j, NTU25, CropSpec(parts=("left_hand", "full_body")), (120, 160))
    lh = boxes[0, 0]
    assert np.allclose((lh[0] + lh[2]) / 2, 20) and np.allclose((lh[1] + lh[3]) / 2, 50)
    assert np.isclose(lh[2] - lh[0], 2 * 0.12 * 100, rtol=0.05)
    fb = boxes[0, 1]
    assert fb[2] - fb[0] == pytest.approx(fb[3] - fb[1])  # square
    assert fb[1] < 10 and fb[3] > 110  # spans every joint with a margin
    assert np.isfinite(boxes[3]).all()


def test_crops_are_grey_outside_the_frame_and_fixed_size():
    frames = np.full((2, 20, 20, 3), 200, np.uint8)
    boxes = np.array([[[-20, -20, 0, 0]], [[0, 0, 20, 20]]], np.float32)  # outside, inside
    out = crop_boxes(frames, boxes, 8)
    assert out.shape == (1, 2, 8, 8, 3)
    assert (out[0, 0] == GREY).all() and (out[0, 1] == 200).all()


def test_crops_without_skeleton_fall_back_to_the_whole_frame():
    frames = np.full((3, 12, 16, 3), 50, np.uint8)
    crops, boxes = crop_parts(frames, np.full((3, 25, 2), np.nan, np.float32), NTU25, CropSpec(size=4))
    assert crops.shape == (3, 3, 4, 4, 3) and np.isfinite(boxes).all()


def test_square_frames_centre_crop_moves_joints():
    frames = np.zeros((1, 20, 40, 3), np.uint8)
    out, j = square_frames(frames, np.array([[[[20.0, 10.0]]]], np.float32), 10)
    assert out.shape == (1, 10, 10, 3)
    np.testing.assert_allclose(j[0, 0, 0], [5.0, 5.0])


@pytest.fixture
def ntu_root(tmp_path):
    for n in ("S001C001P001R001A001", "S001C002P003R001A002"):
        write_sample(tmp_path, n, one_person(12))
    return tmp_path


def test_dataset_items_and_cache(ntu_root, tmp_path_factory):
    reader = NTUReader(ntu_root)
    spec = InputSpec(num_frames=4, frame_size=16, crops=CropSpec(size=8), skeleton_frames=5, num_persons=2)
    cache = tmp_path_factory.mktemp("cache")
    ds = ClipDataset(reader, reader.list_clips(), spec, train=True, cache_dir=cache, seed=1)
    item = ds[0]
    assert item["rgb"].shape == (3, 4, 16, 16) and item["rgb"].dtype == torch.float32
    assert item["rgb"].min() >= -1.0 and item["rgb"].max() <= 1.0
    assert item["crops"].shape == (3, 3, 4, 8, 8)
    assert item["skeleton"].shape == (5, 2, 25, 3) and torch.isfinite(item["skeleton"]).all()
    assert (item["skeleton"][:, 1] == 0).all()  # absent second person is zeros
    assert item["joints2d"].shape == (4, 2, 25, 2)
    assert item["label"].item() == 0 and item["frame_index"].shape == (4,)
    assert len(list(cache.glob("*.prep"))) == 1
    assert ds.warm_cache(progress=False) == 1 and ds.warm_cache(progress=False) == 0
    # cached item equals a freshly prepared one
    ds_nocache = ClipDataset(reader, reader.list_clips(), spec, train=True, cache_dir=None, seed=1)
    for k in ("rgb", "crops", "skeleton"):
        torch.testing.assert_close(ds[1][k], ds_nocache[1][k])
    # training randomness changes with the epoch, evaluation does not
    draws = set()
    for epoch in range(6):
        ds.set_epoch(epoch)
        draws.add(tuple(ds[0]["frame_index"].tolist()))
    assert len(draws) > 1
    ev = ClipDataset(reader, reader.list_clips(), spec, train=False, cache_dir=cache)
    assert torch.equal(ev[0]["frame_index"], ev[0]["frame_index"])


def test_cache_key_follows_settings(ntu_root, tmp_path_factory):
    reader = NTUReader(ntu_root)
    cache = tmp_path_factory.mktemp("cache")
    refs = reader.list_clips()
    a = ClipDataset(reader, refs, InputSpec(frame_size=16), cache_dir=cache).cache_path(refs[0])
    b = ClipDataset(reader, refs, InputSpec(frame_size=24), cache_dir=cache).cache_path(refs[0])
    c = ClipDataset(reader, refs, InputSpec(frame_size=16, num_frames=8), cache_dir=cache).cache_path(refs[0])
    assert a != b and a == c  # sampling counts reuse the cache


def test_skeleton_only_dataset_skips_video(ntu_root):
    reader = NTUReader(ntu_root)
    spec = InputSpec(num_frames=0, skeleton_frames=3)
    item = ClipDataset(reader, reader.list_clips(), spec)[0]
    assert set(item) == {"label", "index", "skeleton", "skeleton_index"}


def test_prepare_clip_keeps_truth():
    T = 10
    parts = np.zeros((T, len(NTU25.part_names)), bool)
    parts[3:7, NTU25.part_names.index("right_hand")] = True
    clip = Clip(
        "s",
        NTU25,
        0,
        "drink water",
        frames=np.zeros((T, 12, 16, 3), np.uint8),
        joints3d=np.zeros((T, 1, 25, 3)),
        joints2d=np.full((T, 1, 25, 2), 5.0),
        truth=ClipTruth(NTU25.part_names, parts, (3, 7)),
    )
    prep = prepare_clip(clip, InputSpec(num_frames=2, frame_size=8))
    assert prep.extras["truth_parts"].tolist() == [n == "right_hand" for n in NTU25.part_names]
    np.testing.assert_allclose(prep.extras["truth_interval"], [0.3, 0.7])


def test_packed_frames_decode_only_the_steps_asked_for():
    from core_models.data.datasets import PackedFrames

    rng = np.random.default_rng(0)
    stack = rng.integers(0, 255, size=(10, 6, 5, 3), dtype=np.uint8)
    stack[:, :3] = 7  # something to compress
    packed = PackedFrames.pack(stack)
    assert len(packed) == 10 and packed.shape == stack.shape and packed.nbytes < stack.nbytes + 200
    np.testing.assert_array_equal(packed.unpack(), stack)
    idx = np.array([9, 0, 4, 4])
    np.testing.assert_array_equal(packed[idx], stack[idx])
    np.testing.assert_array_equal(packed[3], stack[3])
    assert packed[np.array([], dtype=int)].shape == (0, 6, 5, 3)
    with pytest.raises(ValueError, match="do not cover"):
        PackedFrames(packed.blob[:-1], packed.offsets, packed.step_shape)
    # frames that repeat one another are stored about once (the key step is zlib's dictionary)
    scene = rng.integers(0, 255, size=(32, 32, 3), dtype=np.uint8)
    clip = np.stack([np.roll(scene, t % 3, axis=1) for t in range(16)])
    assert PackedFrames.pack(clip).nbytes < 4 * scene.nbytes < clip.nbytes / 3
    np.testing.assert_array_equal(PackedFrames.pack(clip)[np.array([15, 8, 0])], clip[[15, 8, 0]])
    one = PackedFrames.pack(clip[:1])
    assert one.key == -1 and np.array_equal(one.unpack(), clip[:1])


def test_a_damaged_cache_file_is_prepared_again(ntu_root, tmp_path_factory):
    reader = NTUReader(ntu_root)
    spec = InputSpec(num_frames=4, frame_size=16, crops=CropSpec(size=8), skeleton_frames=5, num_persons=2)
    cache = tmp_path_factory.mktemp("cache")
    ds = ClipDataset(reader, reader.list_clips()[:1], spec, train=False, cache_dir=cache)
    good = ds[0]
    (path,) = cache.glob("*.prep")
    size = path.stat().st_size
    for damage in (b"PK\x03\x04 not ours", path.read_bytes()[: size // 2]):
        path.write_bytes(damage)
        fresh = ClipDataset(reader, reader.list_clips()[:1], spec, train=False, cache_dir=cache)
        again = fresh[0]
        for k in ("rgb", "crops", "skeleton"):
            torch.testing.assert_close(again[k], good[k])
        assert path.stat().st_size == size  # rewritten whole
    # a model that reads only the person crop gets no whole frames
    crop_only = ClipDataset(reader, reader.list_clips()[:1], spec, train=False, cache_dir=cache,
                            reads=("crops", "skeleton"))  # fmt: skip
    item = crop_only[0]
    assert "rgb" not in item and torch.equal(item["crops"], good["crops"])


def test_prepared_arrays_round_trip_through_the_cache_file(tmp_path):
    from core_models.data.datasets import PackedFrames, _Prepared, _read_prepared, _write_prepared

    rng = np.random.default_rng(1)
    prep = _Prepared(
        frames=rng.integers(0, 255, (6, 8, 8, 3), dtype=np.uint8),
        crops=rng.integers(0, 255, (2, 6, 4, 4, 3), dtype=np.uint8),
        joints2d=rng.normal(size=(6, 1, 3, 2)).astype(np.float32),
        frame_index=np.arange(6, dtype=np.int64),
        skeleton=rng.normal(size=(9, 1, 3, 3)).astype(np.float32)[:, :, ::-1],  # not C-contiguous
        extras={"truth_acting": np.array(1, dtype=np.int64), "truth_parts": np.array([True, False])},
    )
    _write_prepared(tmp_path / "a.prep", prep)
    back = _read_prepared(tmp_path / "a.prep")
    assert isinstance(back.frames, PackedFrames) and isinstance(back.crops, PackedFrames)
    np.testing.assert_array_equal(back.frames.unpack(), prep.frames)
    np.testing.assert_array_equal(np.moveaxis(back.crops.unpack(), 0, 1), prep.crops)
    for k in ("joints2d", "frame_index", "skeleton"):
        np.testing.assert_array_equal(getattr(back, k), getattr(prep, k))
    for k, v in prep.extras.items():
        assert back.extras[k].shape == v.shape and back.extras[k].dtype == v.dtype  # 0-d stays 0-d
        np.testing.assert_array_equal(back.extras[k], v)
    assert back.flow is None
    hands = CropSpec(parts=("left_hand", "right_hand"), size=4)
    spec = InputSpec(num_frames=3, frame_size=8, crops=hands, skeleton_frames=4, num_persons=1)
    item_a, item_b = make_item(prep, spec, 0), make_item(back, spec, 0)
    assert item_a.keys() == item_b.keys()
    for k in item_a:
        assert torch.equal(item_a[k], item_b[k]), k


def test_loaders_start_no_process_when_the_model_takes_every_core(monkeypatch):
    from core_models.data import datasets

    monkeypatch.setattr(datasets.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    assert datasets.loader_workers(3, "cpu") == 0
    assert datasets.loader_workers(3, torch.device("cuda")) == 3  # the model is not on these cores
    monkeypatch.setattr(datasets.os, "cpu_count", lambda: 16)
    assert datasets.loader_workers(3, "cpu") == 3  # spare cores: a loader process uses them


def test_clips_kept_in_memory_are_decompressed_while_there_is_room_and_give_the_same_items(
    ntu_root, tmp_path_factory
):
    from core_models.data.datasets import PackedFrames, _nbytes, _unpacked_nbytes

    reader = NTUReader(ntu_root)
    refs = reader.list_clips()
    spec = InputSpec(num_frames=4, frame_size=16, crops=CropSpec(size=8), skeleton_frames=5, flow_frames=2)
    cache = tmp_path_factory.mktemp("cache")

    def dataset(**kw):
        return ClipDataset(reader, refs, spec, train=True, cache_dir=cache, seed=3, mirror=True, **kw)

    from_disk = dataset()
    from_disk.warm_cache(progress=False)
    assert isinstance(from_disk.prepared(0).frames, PackedFrames)  # as the cache file holds it
    roomy = dataset(keep_in_memory=True, memory_budget=2**30)
    preps = [from_disk.prepared(i) for i in range(len(refs))]
    # Room for clip 0 decompressed and then clip 1 only as packed; or for clip 0 alone.
    assert len(refs) == 2 and _unpacked_nbytes(preps[1]) > _nbytes(preps[1])
    tight = dataset(keep_in_memory=True, memory_budget=_unpacked_nbytes(preps[0]) + _nbytes(preps[1]))
    full = dataset(keep_in_memory=True, memory_budget=_unpacked_nbytes(preps[0]))
    for epoch in (0, 1):
        for ds in (from_disk, roomy, tight, full):
            ds.set_epoch(epoch)
        for i in range(len(refs)):
            want = from_disk[i]
            for ds in (roomy, tight, full):
                got = ds[i]
                assert got.keys() == want.keys()
                for k in want:
                    same = torch.testing.assert_close
                    same(got[k], want[k], rtol=0, atol=0, equal_nan=True, msg=str((k, epoch, i)))
    kept = roomy._memory[0]
    assert not isinstance(kept.frames, PackedFrames) and kept.frames.shape[1:] == (16, 16, 3)
    assert kept.crops.shape[0] == 3 and not isinstance(kept.flow, PackedFrames)  # parts first again
    assert sorted(tight._memory) == [0, 1] and list(full._memory) == [0]  # clip 1: from the file
    assert not isinstance(tight._memory[0].frames, PackedFrames)
    assert isinstance(tight._memory[1].frames, PackedFrames)
    # A model that reads no whole frames keeps them packed (nothing would read them).
    crops_only = ClipDataset(reader, refs, spec, cache_dir=cache, keep_in_memory=True, memory_budget=2**30,
                             reads=("crops", "skeleton"))  # fmt: skip
    crops_only[0]
    assert isinstance(crops_only._memory[0].frames, PackedFrames)
    assert not isinstance(crops_only._memory[0].crops, PackedFrames)


@pytest.mark.parametrize(
    "name", ["skeleton_lstm", "part_attention", "two_stream", "glimpse_clouds", "self_attention", "i3d"]
)
def test_a_batch_made_at_once_is_its_items_collated(name, tiny_synth, tmp_path_factory):
    """``ClipDataset.__getitems__`` (what a DataLoader asks for) converts and mirrors each key once
    for the batch: the same draws and the same values, dtypes and shapes as the items one by one,
    mirrored items, missing joints, jittered light and re-framed crops and an absent second person
    included."""
    from torch.utils.data import DataLoader, default_collate

    from core_models.data import open_reader
    from core_models.data.datasets import Collated, collate_items
    from core_models.models import build_model

    reader = open_reader("synth", tiny_synth)
    refs = reader.split("cs", "train")[:10]
    model = build_model(name, num_classes=reader.num_classes())
    cache = tmp_path_factory.mktemp(f"batch-{name}")
    idx = [4, 1, 7, 2, 9, 0, 5]

    def dataset(**kw):
        kw = {"train": True, "mirror": True, "seed": 5, **kw}
        reads = tuple(getattr(model, "inputs", ())) or None
        ds = ClipDataset(reader, refs, model.input_spec, cache_dir=cache, keep_in_memory=True,
                         memory_budget=2**30, reads=reads, **kw)  # fmt: skip
        ds.set_epoch(3)
        prep = ds.prepared(1)
        if prep.skeleton is not None:  # a lost joint and a broken one: both 0 in the item
            prep.skeleton[:, 0, 5] = np.nan
            prep.skeleton[:, 0, 6] = np.inf
        return ds

    def same(got, want):
        assert list(got) == list(want)
        for k in want:
            assert got[k].dtype == want[k].dtype and got[k].shape == want[k].shape, k
            assert got[k].stride() == want[k].stride(), k  # the layout a model gets, too
            torch.testing.assert_close(got[k], want[k], rtol=0, atol=0, equal_nan=True, msg=k)

    for kw in ({}, {"train": False}, {"squeeze": 0.3}, {"jitter": True}):
        ds = dataset(**kw)
        made = ds.__getitems__(idx)
        assert isinstance(made, Collated) and len(made) == len(idx)
        want = default_collate([ds[i] for i in idx])
        same(collate_items(made), want)
        same(default_collate(made), want)  # any DataLoader's default collate reads it as items
        loader = DataLoader(ds, batch_size=4, collate_fn=collate_items)
        every = default_collate([ds[i] for i in range(10)])
        same({k: torch.cat([b[k] for b in loader]) for k in want}, every)
        if "skeleton" in want:
            assert torch.isfinite(want["skeleton"]).all() and (want["skeleton"][:, :, 1] == 0).all()
    # Some of these items are mirrored and some not, so both paths of the batch were taken.
    mirroring, plain = dataset(), dataset(mirror=False)
    key = "joints2d" if "joints2d" in want else "skeleton"
    flipped = [not torch.equal(mirroring[i][key].nan_to_num(), plain[i][key].nan_to_num()) for i in idx]
    assert 0 < sum(flipped) < len(idx)
    # Squeezed items are made at once too, with every item's own factor.
    squeezing = dataset(squeeze=0.3)
    moved = [not torch.equal(squeezing[i][key].nan_to_num(), mirroring[i][key].nan_to_num()) for i in idx]
    assert isinstance(squeezing.__getitems__(idx), Collated) and all(moved) == (key == "joints2d")
    # Jittered items are made at once too (above), each with its own light and crop windows; the
    # images do change. With a squeeze as well they are made one by one.
    jittered = dataset(jitter=True)
    images = [k for k in ("rgb", "crops") if k in want]
    for k in images:
        assert all(not torch.equal(jittered[i][k], mirroring[i][k]) for i in idx), k
    both = dataset(jitter=True, squeeze=0.3)
    items = both.__getitems__(idx)
    assert isinstance(items, list)
    same(collate_items(items), default_collate([both[i] for i in idx]))


def test_sample_indices_are_the_bins_formula():
    """The bins are made once per clip length; the indices are still the formula's."""
    for n in (1, 2, 7, 31, 64, 100, 301):
        for k in (1, 3, 4, 16, 24, 32):
            edges = np.linspace(0.0, n, k + 1)
            lo, hi = edges[:-1], edges[1:]
            np.testing.assert_array_equal(sample_indices(n, k), np.clip(np.floor((lo + hi) / 2), 0, n - 1))
            draws = np.random.default_rng(n * k).random(k)
            want = np.clip(np.floor(lo + draws * (hi - lo)).astype(np.int64), 0, n - 1)
            got = sample_indices(n, k, rng=np.random.default_rng(n * k))
            np.testing.assert_array_equal(got, want)
            assert got.dtype == np.int64
    centres = sample_indices(10, 5)
    centres[0] = 9  # a caller may change what it got without changing the next call's
    np.testing.assert_array_equal(sample_indices(10, 5), [1, 3, 5, 7, 9])
