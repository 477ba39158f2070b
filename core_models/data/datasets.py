"""torch ``Dataset`` over any reader, with an on-disk cache of prepared tensors.

Decoding video dominates a CPU epoch, so each clip is prepared once and cached as a ``.prep`` file:
up to ``cache_frames`` frames (uniformly subsampled) resized to the model's square input (short
side resized, centre crop), the body-part crops of the same frames, and the normalised skeleton at
full frame rate. An item then only samples frames from the cached arrays (a random frame per bin
when training, the bin centres otherwise) and converts them to float.

Frames, crops and flow are kept as :class:`PackedFrames`, one zlib stream per time step, so an
item decompresses only the steps it samples (16 of 64 in the ``cpu`` presets) instead of the
whole stack; this is what keeps ``evaluate`` close to the model's forward pass. The file is one
read: a magic line, the length and JSON of a header (each array's dtype, shape, byte range and
codec), then the bytes; the packed stacks are stored as they are and every other array is one
zlib stream. Nothing in it is pickled, and a cache file that does not read back (truncated,
foreign, damaged) is prepared again from the clip. A dataset that keeps its clips in memory
(``keep_in_memory``: training epochs, validation, ``evaluate``'s repeated passes) holds them
decompressed while its byte budget has room (``ClipDataset._keep``): an item from memory then
indexes plain arrays (the same values). A training set made with ``mirror=True`` also
left-right mirrors half of its items (:func:`mirror_item`), and one made with ``jitter=True``
changes every item's light and the framing of its crops (:func:`jitter_item`); one made with
``squeeze=a`` stretches or squeezes every item's images left to right by a random factor in
[1 - a, 1 / (1 - a)] (:func:`squeeze_item`, a stand-in for an unseen camera angle). A DataLoader asks
for a whole batch at once (``ClipDataset.__getitems__``; use :func:`collate_items` as its
``collate_fn``): the items are drawn one by one as above, but each key is stacked, mirrored and
converted to float once for the batch (:func:`make_batch`), and jittered once for the batch
(:func:`jitter_batch`): the same values, loaded in a quarter (skeleton LSTM) to a half
(self-attention, and the jittered items of I3D and part attention) of the time item-by-item
conversion took.

The cache key hashes the reader, the clip's files (path, size, mtime) and every setting that
changes the prepared arrays, so editing a setting or a file never serves stale tensors. Files
are written under a temporary name and renamed, so a killed run never leaves a half-written one.

An item is a dict (only the keys the spec asks for)::

    rgb          float32 (3, T, S, S) in [-1, 1]            RGB, I3D's input convention
    crops        float32 (P, 3, T, C, C) in [-1, 1]         part crops at the same frames
    skeleton     float32 (Ts, M, J, 3)                      normalised joints, 0 where missing
    joints2d     float32 (T, M, J, 2) in [-1, 1]            2D joints in the square frame, NaN missing
    frame_index  int64 (T,)                                 original frame of each RGB sample
    skeleton_index int64 (Ts,)                              original frame of each skeleton step
    flow         float32 (2L, S, S) in [-1, 1]              L consecutive flow fields [dx0, dy0, dx1, ...]
                                                            (``flow_frames`` = L > 0; see ``flow.py``)
    label        int64 ()
    index        int64 ()                                   position in the dataset
    truth_parts  bool (P_layout,)   truth_interval float32 (2,)   (synthetic clips only)
    truth_dominant, truth_acting  int64 ()  the subject's dominant hand and the hand of a one-hand
                 action: 0 left, 1 right, -1 unknown / none      (synthetic clips only)
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import os
import zlib
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from torch.utils.data import Dataset, default_collate

from core_models.data.base import DatasetReader
from core_models.data.clip import Clip, ClipRef
from core_models.data.crops import CropSpec, crop_parts
from core_models.data.flow import clip_flow, stack_channels, stack_fields
from core_models.data.layouts import SkeletonLayout, mirror_name
from core_models.data.sampling import sample_indices
from core_models.data.skeleton import fill_missing, normalize_skeleton

CACHE_VERSION = 3  # 3: the .prep container, frames, crops and flow packed per time step
CACHE_MAGIC = b"core_models prepared clip 1\n"
PACKED = ("frames", "crops", "flow")  # cached per time step; crops time-major (Tc, P, C, C, 3)


def loader_workers(workers: int, device) -> int:
    """Loader processes worth starting: none when the model runs on the CPU and its threads
    already take every core, since a loader process would then take cores from the model. A
    cached item costs 1-4 ms to read (frames decompressed per sampled step); on a 2-core machine
    ``bench train`` measured in-process loading faster for training and evaluation alike (the
    README's training-speed table)."""
    if torch.device(device).type == "cpu" and (os.cpu_count() or 1) <= torch.get_num_threads():
        return 0
    return workers


class PackedFrames:
    """A uint8 stack kept as one zlib stream per step of its first axis.

    ``stack[idx]`` (an int or an integer array) decompresses only those steps and returns them as
    an array, like indexing the unpacked stack; ``len``, ``shape`` and ``nbytes`` (the packed
    size) behave as for an array. The middle step is the key step: it is compressed alone and
    every other step is compressed with the key step's pixels as zlib's preset dictionary, so what
    consecutive frames share is stored about once (a 64-step stack of 64x64 frames: 138 KiB, against
    480 KiB for steps compressed alone and 101 KiB for the whole stack as one stream) while any
    step still decompresses on its own, after the key step.
    """

    def __init__(self, blob: np.ndarray, offsets: np.ndarray, step_shape: tuple[int, ...], key: int = -1):
        self.blob, self.offsets, self.step_shape = blob, offsets, tuple(int(n) for n in step_shape)
        self.key = int(key)
        if blob.dtype != np.uint8 or blob.ndim != 1 or offsets.ndim != 1 or len(offsets) < 1:
            raise ValueError("a packed stack needs a 1-D uint8 blob and at least one offset")
        if offsets[0] != 0 or offsets[-1] != len(blob) or np.any(np.diff(offsets) < 0):
            raise ValueError(f"packed offsets do not cover the blob of {len(blob)} bytes")
        if not -1 <= self.key < len(self):
            raise ValueError(f"key step {self.key} is not one of the {len(self)} steps")
        self._key_bytes: bytes | None = None

    @classmethod
    def pack(cls, stack: np.ndarray, level: int = 4) -> PackedFrames:
        stack = np.ascontiguousarray(stack, dtype=np.uint8)
        key = len(stack) // 2 if len(stack) > 1 else -1
        zdict = stack[key].tobytes() if key >= 0 else b""
        parts = []
        for t, step in enumerate(stack):
            if t == key or key < 0:
                parts.append(zlib.compress(step.tobytes(), level))
            else:
                c = zlib.compressobj(level, zdict=zdict)
                parts.append(c.compress(step.tobytes()) + c.flush())
        offsets = np.zeros(len(parts) + 1, dtype=np.int64)
        offsets[1:] = np.cumsum([len(b) for b in parts])
        return cls(np.frombuffer(b"".join(parts), dtype=np.uint8), offsets, stack.shape[1:], key)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self), *self.step_shape)

    @property
    def nbytes(self) -> int:
        return int(self.blob.nbytes + self.offsets.nbytes)

    def _raw(self, t: int) -> bytes:
        data = self.blob[self.offsets[t] : self.offsets[t + 1]]
        if self.key < 0 or t == self.key:
            return zlib.decompress(data)
        if self._key_bytes is None:
            self._key_bytes = self._raw(self.key)
        d = zlib.decompressobj(zdict=self._key_bytes)
        return d.decompress(data) + d.flush()

    def _step(self, t: int) -> np.ndarray:
        raw = self._raw(t)
        size = int(np.prod(self.step_shape))
        if len(raw) != size:
            raise ValueError(f"packed step {t} holds {len(raw)} bytes, expected {size}")
        return np.frombuffer(raw, dtype=np.uint8).reshape(self.step_shape)

    def __getitem__(self, idx) -> np.ndarray:
        idx = np.asarray(idx)
        if idx.ndim == 0:
            return self._step(int(idx) % len(self)).copy()
        steps = [self._step(int(t) % len(self)) for t in idx.reshape(-1)]
        out = np.stack(steps) if steps else np.zeros((0, *self.step_shape), dtype=np.uint8)
        return out.reshape(*idx.shape, *self.step_shape)

    def unpack(self) -> np.ndarray:
        return self[np.arange(len(self))]


@dataclass(frozen=True)
class InputSpec:
    """What a model reads from a clip.

    Attributes:
        num_frames: RGB frames per item (0: no RGB, and no video decoding at all without crops).
        frame_size: side of the square full frames.
        crops: part-crop settings, or ``None`` for no crops.
        skeleton_frames: skeleton steps per item (0: no skeleton).
        num_persons: persons kept in ``skeleton`` / ``joints2d`` (missing ones are 0 / NaN).
        view_normalize: rotate skeletons to face +x (see ``core_models.data.skeleton``).
        cache_frames: frames of each clip kept in the cache.
        flow_frames: L, flow fields per ``flow`` stack (0: no flow). The cache keeps the flow of
            every consecutive frame pair at ``frame_size``; an item takes L consecutive fields,
            centred in the clip (evaluation) or at a random start (training).
        flow_stacks: stacks of L fields per item, spread over the clip (one per equal bin of the
            possible starts), one after the other on the channel axis.
        test_flow_stacks: stacks of an evaluation item (no random draws: validation, test, the
            app's clip); 0 takes ``flow_stacks``. The two-stream paper averages the temporal
            stream over 25 stacks at test time and trains on one.
    """

    num_frames: int = 16
    frame_size: int = 64
    crops: CropSpec | None = None
    skeleton_frames: int = 20
    num_persons: int = 2
    view_normalize: bool = False
    cache_frames: int = 64
    flow_frames: int = 0
    flow_stacks: int = 1
    test_flow_stacks: int = 0

    @property
    def needs_video(self) -> bool:
        return self.num_frames > 0 or self.crops is not None or self.flow_frames > 0

    def stacks(self, *, training: bool) -> int:
        """Flow stacks of a training item, or of an evaluation item (``test_flow_stacks``)."""
        return self.flow_stacks if training or self.test_flow_stacks <= 0 else self.test_flow_stacks


def square_frames(frames: np.ndarray, joints2d: np.ndarray | None, size: int):
    """Resize the short side to ``size`` and centre-crop; 2D joints follow.

    Returns:
        ``(frames uint8 (T, size, size, 3), joints2d in output pixels or None)``.
    """
    H, W = frames.shape[1:3]
    side = min(H, W)
    y0, x0 = (H - side) // 2, (W - side) // 2
    out = np.stack(
        [
            cv2.resize(f[y0 : y0 + side, x0 : x0 + side], (size, size), interpolation=cv2.INTER_AREA)
            for f in frames
        ]
    )
    if joints2d is not None:
        joints2d = (joints2d - np.array([x0, y0], np.float32)) * (size / side)
    return out, joints2d


@dataclass
class _Prepared:
    frames: np.ndarray | PackedFrames | None  # uint8 (Tc, S, S, 3)
    crops: np.ndarray | PackedFrames | None  # uint8 (P, Tc, C, C, 3); packed: time-major (Tc, P, ...)
    joints2d: np.ndarray | None  # float32 (Tc, M, J, 2) in [-1, 1]
    frame_index: np.ndarray  # int64 (Tc,)
    skeleton: np.ndarray | None  # float32 (T, M, J, 3) normalised, NaN kept
    extras: dict = field(default_factory=dict)
    flow: np.ndarray | PackedFrames | None = None  # uint8 (T - 1, S, S, 2), quantised (see flow.py)


def prepare_clip(clip: Clip, spec: InputSpec) -> _Prepared:
    """Turn a loaded clip into the arrays the cache keeps (see the module docstring)."""
    T = clip.num_frames
    keep = sample_indices(T, min(T, spec.cache_frames))
    frames = crops = j2d = None
    if spec.needs_video:
        if clip.frames is None:
            raise ValueError(f"clip {clip.name} has no RGB frames but the model reads RGB")
        sel = clip.frames[keep]
        person2d = None if clip.joints2d is None else clip.joints2d[keep]
        if spec.crops is not None:
            if person2d is None:
                raise ValueError(f"clip {clip.name} has no 2D joints to cut body-part crops from")
            crops, _ = crop_parts(sel, person2d[:, 0], clip.layout, spec.crops)
        if spec.num_frames > 0:
            frames, j2d = square_frames(sel, person2d, spec.frame_size)
            if j2d is not None:
                j2d = (j2d / spec.frame_size * 2.0 - 1.0).astype(np.float32)
    flow = None
    if spec.flow_frames > 0:  # every consecutive pair, not only the kept frames
        flow = clip_flow(square_frames(clip.frames, None, spec.frame_size)[0])
    skeleton = None
    if spec.skeleton_frames > 0:
        if clip.joints3d is None:
            raise ValueError(f"clip {clip.name} has no 3D joints but the model reads skeletons")
        skeleton = normalize_skeleton(clip.joints3d, clip.layout, view=spec.view_normalize)
    extras = {}
    if clip.truth is not None:
        start, end = clip.truth.interval
        extras["truth_parts"] = np.array(
            [n in clip.truth.active_parts() for n in clip.layout.part_names], dtype=bool
        )
        extras["truth_interval"] = np.array([start / T, end / T], dtype=np.float32)
        hand_code = {"left": 0, "right": 1}
        extras["truth_dominant"] = np.array(hand_code.get(clip.truth.dominant, -1), dtype=np.int64)
        extras["truth_acting"] = np.array(hand_code.get(clip.truth.acting_hand, -1), dtype=np.int64)
    return _Prepared(frames, crops, j2d, keep.astype(np.int64), skeleton, extras, flow)


def _fit_persons(arr: np.ndarray, m: int, fill: float) -> np.ndarray:
    """Keep or pad the person axis (axis 1) to ``m``."""
    if arr.shape[1] >= m:
        return arr[:, :m]
    pad = np.full((arr.shape[0], m - arr.shape[1], *arr.shape[2:]), fill, arr.dtype)
    return np.concatenate([arr, pad], axis=1)


def _to_unit(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(x).float().div_(127.5).sub_(1.0)


class ClipDataset(Dataset):
    """Items for a model from any reader's clips (see the module docstring for the keys).

    Args:
        reader: a dataset reader.
        refs: the clips (e.g. ``reader.split("cs", "train")``).
        spec: what the model reads.
        train: random frame inside each bin (else bin centres).
        cache_dir: folder for prepared tensors; ``None`` prepares every time (tests, one-offs).
        keep_in_memory: also keep each clip's prepared arrays in this object once made (several
            passes over a split without a disk cache, as ``evaluate``'s interventions make, or
            training epochs that should not decompress the cache again).
        memory_budget: with ``keep_in_memory``, the most bytes of prepared arrays kept (``None``:
            no limit, packed as on disk); clips are kept decompressed while it has room for
            that, and clips past it are read from the cache each time.
        protocol: passed to ``reader.label_for`` for protocols with their own class list.
        seed: base seed of the training randomness (combined with the epoch and index).
        reads: the batch keys the model reads (its ``inputs``); when given without ``rgb``, items
            leave the whole frames out (a person-crop model does not decompress them).
        mirror: a training set mirrors half of its items left to right (:func:`mirror_item`).
        jitter: a training set changes each item's brightness and contrast and re-frames its
            crops (:func:`jitter_item`).
        squeeze: with ``a`` > 0, a training set stretches or squeezes each item's frames, crops,
            flow and 2D joints horizontally by a factor drawn from [1 - a, 1 / (1 - a)]
            (:func:`squeeze_item`).
    """

    def __init__(
        self,
        reader: DatasetReader,
        refs: list[ClipRef],
        spec: InputSpec,
        *,
        train: bool = False,
        cache_dir: str | Path | None = None,
        protocol: str | None = None,
        seed: int = 0,
        keep_in_memory: bool = False,
        memory_budget: int | None = None,
        mirror: bool = False,
        reads: tuple[str, ...] | None = None,
        jitter: bool = False,
        squeeze: float = 0.0,
    ):
        self.reader = reader
        self.refs = list(refs)
        self.spec = spec
        self.train = train
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.protocol = protocol
        self.seed = seed
        self.mirror = mirror and train
        self.jitter = jitter and train
        self.squeeze = float(squeeze) if train else 0.0
        self.rgb = reads is None or "rgb" in reads
        self.epoch = 0
        self.labels = [reader.label_for(r, protocol) for r in self.refs]
        self._memory: dict[int, _Prepared] | None = {} if keep_in_memory else None
        self._memory_budget, self._memory_bytes = memory_budget, 0

    def __len__(self) -> int:
        return len(self.refs)

    def set_epoch(self, epoch: int) -> None:
        """Change the training randomness (call once per epoch, like DistributedSampler)."""
        self.epoch = epoch

    # -- cache -------------------------------------------------------------------------------
    def cache_path(self, ref: ClipRef) -> Path | None:
        if self.cache_dir is None:
            return None
        files = []
        for p in (ref.video, ref.skeleton):
            if p is not None and p.exists():
                st = p.stat()
                files.append([str(p.resolve()), st.st_size, int(st.st_mtime)])
        key = json.dumps(
            [CACHE_VERSION, self.reader.name, ref.name, files, _spec_key(self.spec)], sort_keys=True
        )
        digest = hashlib.sha1(key.encode()).hexdigest()[:16]
        return self.cache_dir / f"{ref.name}-{digest}.prep"

    def prepared(self, i: int) -> _Prepared:
        """The prepared arrays of clip ``i`` (read from the cache, or made and cached)."""
        if self._memory is not None and i in self._memory:
            return self._memory[i]
        ref = self.refs[i]
        path = self.cache_path(ref)
        prep = None
        if path is not None and path.is_file():
            try:
                prep = _read_prepared(path)
            except (OSError, ValueError, KeyError, TypeError, zlib.error):
                prep = None  # a damaged cache file: prepare the clip again and overwrite it
        if prep is None:
            clip = self.reader.load(ref, with_video=self.spec.needs_video)
            prep = prepare_clip(clip, self.spec)
            if path is not None:
                _write_prepared(path, prep)
        if self._memory is not None:
            prep = self._keep(i, prep)
        return prep

    def _keep(self, i: int, prep: _Prepared) -> _Prepared:
        """Keep clip ``i``'s arrays in memory while the budget has room: decompressed while it has
        room for that (an item then only indexes arrays, which saves 1-2 ms of zlib per item and
        pass), else as packed as on disk while it has room for that. A clip read from its cache
        file costs little more than a packed one in memory, so filling the budget with
        decompressed clips first reads the split fastest. Without a budget, always as packed."""
        budget = self._memory_budget
        if budget is not None and self._memory_bytes + _unpacked_nbytes(prep, rgb=self.rgb) <= budget:
            prep = _unpack(prep, rgb=self.rgb)
        size = _nbytes(prep)
        if budget is None or self._memory_bytes + size <= budget:
            self._memory[i] = prep
            self._memory_bytes += size
        return prep

    def warm_cache(self, progress: bool = True, on_clip: Callable[[int, int], None] | None = None) -> int:
        """Prepare every clip not yet cached; returns how many were prepared now.

        ``on_clip(done, total)`` is called after each clip (and once before the first).
        """
        from tqdm import tqdm

        todo = [i for i, r in enumerate(self.refs) if not (p := self.cache_path(r)) or not p.is_file()]
        if on_clip is not None:
            on_clip(0, len(todo))
        for k, i in enumerate(tqdm(todo, desc="preparing clips", disable=not progress, unit="clip"), 1):
            self.prepared(i)
            if on_clip is not None:
                on_clip(k, len(todo))
        return len(todo)

    # -- items -------------------------------------------------------------------------------
    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng((self.seed, self.epoch, i)) if self.train else None
        item = make_item(self.prepared(i), self.spec, self.labels[i], index=i, rng=rng, rgb=self.rgb)
        if self.mirror and rng.random() < 0.5:
            item = mirror_item(item, self.reader.layout, self.spec)
        if self.jitter:
            item = jitter_item(item, rng)
        if self.squeeze:
            item = squeeze_item(item, squeeze_factor(rng, self.squeeze))
        return item

    def __getitems__(self, indices: list[int]) -> Collated | list[dict[str, torch.Tensor]]:
        """The items ``indices`` as one batch (what a DataLoader asks for): the same draws and the
        same values as ``[self[i] for i in indices]`` collated, but each key converted and
        mirrored once for the batch (:func:`make_batch`), which is most of an item's cost for the
        small models, and jittered once for the batch (:func:`jitter_batch`: each item's own light
        and crop windows, the same values). Items both jittered and squeezed are made one by one."""
        if (self.jitter and (self.squeeze or not self.train)) or not indices:
            return [self[i] for i in indices]
        raws, mirrored, factors, jitters = [], [], [], []
        for i in indices:
            rng = np.random.default_rng((self.seed, self.epoch, i)) if self.train else None
            raw = _draw(self.prepared(i), self.spec, rng=rng, rgb=self.rgb)
            raws.append(raw)
            mirrored.append(bool(self.mirror and rng.random() < 0.5))
            if self.jitter:  # (P, T, C, C, 3) crops
                crops = raw.get("crops")
                parts, size = (0, 0) if crops is None else (crops.shape[0], crops.shape[2])
                jitters.append(_jitter_draws(rng, parts, size, light=JITTER_LIGHT, zoom=JITTER_ZOOM))
            if self.squeeze:
                factors.append(squeeze_factor(rng, self.squeeze))
        labels = [self.labels[i] for i in indices]
        batch = make_batch(raws, labels, list(indices), mirrored, self.reader.layout, self.spec)
        if jitters:
            batch = jitter_batch(batch, jitters)
        if factors:  # each item by its own factor, as ``self[i]`` does (the same values)
            batch = squeeze_batch(batch, factors)
        return Collated(batch)


class Collated(Sequence):
    """A batch that :meth:`ClipDataset.__getitems__` made at once, still readable as the list of
    its items (views into the batch), so a DataLoader with PyTorch's default collate stacks
    them back into the same batch; :func:`collate_items` takes the batch as it is."""

    def __init__(self, batch: dict[str, torch.Tensor]):
        self.batch = batch

    def __len__(self) -> int:
        return len(self.batch["label"])

    def __getitem__(self, k):
        if isinstance(k, slice):
            return [self[j] for j in range(*k.indices(len(self)))]
        return {key: v[k] for key, v in self.batch.items()}


def collate_items(data) -> dict[str, torch.Tensor]:
    """A DataLoader's ``collate_fn`` for a :class:`ClipDataset`: the batch it made at once, or
    PyTorch's default collate of a list of items."""
    return data.batch if isinstance(data, Collated) else default_collate(data)


def _packed_read(prep: _Prepared, rgb: bool) -> list[tuple[str, PackedFrames]]:
    """The packed stacks of ``prep`` that items read (the whole frames only with ``rgb``)."""
    stacks = [(name, getattr(prep, name)) for name in PACKED if rgb or name != "frames"]
    return [(name, stack) for name, stack in stacks if isinstance(stack, PackedFrames)]


def _unpacked_nbytes(prep: _Prepared, *, rgb: bool = True) -> int:
    """Bytes of ``prep`` once :func:`_unpack` has decompressed what an item reads."""
    return _nbytes(prep) + sum(int(np.prod(st.shape)) - st.nbytes for _, st in _packed_read(prep, rgb))


def _unpack(prep: _Prepared, *, rgb: bool = True) -> _Prepared:
    """``prep`` with its packed stacks decompressed into plain arrays (crops back to the part-major
    layout ``(P, Tc, C, C, 3)``); the whole frames stay packed when items leave them out (``rgb``
    False), since nothing would read them. Items made from either are the same."""
    changes = {name: stack.unpack() for name, stack in _packed_read(prep, rgb)}
    if "crops" in changes:
        changes["crops"] = np.ascontiguousarray(changes["crops"].swapaxes(0, 1))
    return replace(prep, **changes) if changes else prep


def _nbytes(prep: _Prepared) -> int:
    arrays = [prep.frame_index, prep.frames, prep.crops, prep.joints2d, prep.skeleton, prep.flow]
    arrays += [np.asarray(v) for v in prep.extras.values()]
    return sum(a.nbytes for a in arrays if a is not None)


def _draw(
    prep: _Prepared, spec: InputSpec, *, rng: np.random.Generator | None, rgb: bool
) -> dict[str, object]:
    """What an item holds, before any conversion: the sampled steps of the clip's arrays (frames
    and crops still uint8, crops part-major ``(P, T, C, C, 3)``; the flow stacks' quantised
    fields ``(K*L, S, S, 2)``; the skeleton still NaN where a joint or person is missing) and its
    extras. The draws from ``rng`` are the item's, in its order (frames, flow, skeleton steps)."""
    raw: dict[str, object] = {}
    if spec.needs_video:
        idx = sample_indices(len(prep.frame_index), max(spec.num_frames, 1), rng=rng)
        raw["frame_index"] = prep.frame_index[idx]
        if prep.frames is not None and rgb:
            raw["rgb"] = prep.frames[idx]  # (T, S, S, 3)
        if prep.crops is not None:
            packed = isinstance(prep.crops, PackedFrames)
            raw["crops"] = prep.crops[idx].swapaxes(0, 1) if packed else prep.crops[:, idx]  # (P, T, C, C, 3)
        if prep.joints2d is not None:
            raw["joints2d"] = np.ascontiguousarray(_fit_persons(prep.joints2d[idx], spec.num_persons, np.nan))
        if prep.flow is not None:
            count = spec.stacks(training=rng is not None)
            fields = stack_fields(len(prep.flow), spec.flow_frames, count, rng)
            raw["flow"] = prep.flow[fields]  # uint8 (K*L, S, S, 2); as flow_stack once converted
    if prep.skeleton is not None:
        sidx = sample_indices(len(prep.skeleton), spec.skeleton_frames, rng=rng)
        raw["skeleton"] = _fit_persons(prep.skeleton[sidx], spec.num_persons, np.nan)  # NaN: filled later
        raw["skeleton_index"] = sidx
    for k, v in prep.extras.items():
        raw[k] = np.asarray(v)
    return raw


def make_item(
    prep: _Prepared,
    spec: InputSpec,
    label: int,
    *,
    index: int = 0,
    rng: np.random.Generator | None = None,
    rgb: bool = True,
) -> dict[str, torch.Tensor]:
    """One item (see the module docstring) from a clip's prepared arrays.

    ``rng`` None takes the bin centres (evaluation, and the app's inspection of one clip);
    ``rgb=False`` leaves the whole frames out.
    """
    item: dict[str, torch.Tensor] = {
        "label": torch.tensor(label, dtype=torch.long),
        "index": torch.tensor(index, dtype=torch.long),
    }
    for k, v in _draw(prep, spec, rng=rng, rgb=rgb).items():
        if k == "rgb":
            item[k] = _to_unit(v).permute(3, 0, 1, 2)  # (3, T, S, S)
        elif k == "crops":
            item[k] = _to_unit(v).permute(0, 4, 1, 2, 3)  # (P, 3, T, C, C)
        elif k == "skeleton":
            item[k] = torch.from_numpy(fill_missing(v))  # 0 where a joint or person is missing
        elif k == "flow":
            item[k] = stack_channels(v)  # (K*2L, S, S) in [-1, 1]
        else:
            item[k] = v if isinstance(v, torch.Tensor) else torch.from_numpy(v)
    return item


_IMAGES = {"rgb": (0, 4, 1, 2, 3), "crops": (0, 1, 5, 2, 3, 4)}  # uint8 (B, T, S, S, 3) / (B, P, T, C, C, 3)
_MIRRORS = ("rgb", "crops", "flow", "joints2d", "skeleton", "truth_parts", "truth_dominant", "truth_acting")


def make_batch(
    raws: list[dict[str, object]],
    labels: list[int],
    indices: list[int],
    mirrored: list[bool],
    layout: SkeletonLayout,
    spec: InputSpec,
) -> dict[str, torch.Tensor]:
    """The collated batch of the items whose :func:`_draw` results are ``raws`` (``mirrored``:
    those :func:`mirror_item` flips), converted once per key instead of once per item: equal,
    value for value and dtype for dtype, to stacking what :func:`make_item` and
    :func:`mirror_item` give item by item (a test checks it). Not for jittered items, whose light
    depends on each item's own mean."""
    batch: dict[str, torch.Tensor] = {
        "label": torch.tensor(labels, dtype=torch.long),
        "index": torch.tensor(indices, dtype=torch.long),
    }
    for k in raws[0]:
        values = [r[k] for r in raws]
        if isinstance(values[0], torch.Tensor):
            batch[k] = torch.stack(values)
            continue
        stacked = torch.from_numpy(np.stack(values))
        if k == "skeleton":  # as fill_missing: 0 where a joint or person is missing, in one pass
            stacked.nan_to_num_(nan=0.0, posinf=0.0, neginf=0.0)
        if k in _IMAGES:  # channels first while still uint8 (a quarter of the bytes to move)
            stacked = stacked.permute(_IMAGES[k]).contiguous()
        if k == "flow":  # float before any mirror, which changes the sign of dx
            stacked = stack_channels(stacked)
        batch[k] = stacked
    if any(mirrored):  # flips and swaps are exact, so mirroring uint8 images gives the same values
        # Rows by position, not a boolean mask: on a batch of 16 clips of 16 uint8 frames a
        # mask's gather and scatter took about 0.5 ms each, index_select and row copies a fifth.
        rows = [i for i, flip in enumerate(mirrored) if flip]
        where = torch.tensor(rows)
        sub = {k: v.index_select(0, where) for k, v in batch.items() if k in _MIRRORS}
        for k, v in mirror_item(sub, layout, spec).items():
            dst = batch[k]  # the batch's own storage (every key was stacked into a new one)
            if v[0].numel() < 4096:  # joints, ground truth: one scatter
                dst.index_copy_(0, where, v)
                continue
            for j, i in enumerate(rows):  # images: a copy per row beats index_copy_ on uint8
                dst[i].copy_(v[j])
    for k in _IMAGES:
        if k in batch:
            batch[k] = batch[k].float().div_(127.5).sub_(1.0)  # as _to_unit, element by element
    return batch


_SQUEEZED = ("rgb", "crops", "flow", "joints2d")


def squeeze_factor(rng: np.random.Generator, amount: float) -> float:
    """A horizontal scale factor for :func:`squeeze_item`, log-uniform in [1 - amount,
    1 / (1 - amount)] (as likely to stretch as to squeeze)."""
    edge = -math.log(1.0 - amount)
    return math.exp(float(rng.uniform(-edge, edge)))


def _scale_matrices(width: int, factors: list[float], border: bool) -> torch.Tensor:
    """(B, W, W) float32, ``M[b]`` with ``row @ M[b]`` the row scaled by ``factors[b]`` about its
    centre: linear interpolation between the two source pixels whose centres bracket each output
    pixel's (pixel centres at half-integers, as ``F.grid_sample`` with ``align_corners=False``
    places them); a source pixel past the edge is the edge pixel (``border``) or 0. Made for
    every factor at once (one ``np.add.at`` per side), each matrix the same as made alone."""
    f = np.asarray(factors, dtype=np.float64)[:, None]
    j = np.broadcast_to(np.arange(width, dtype=np.float64), (len(f), width))
    b = np.broadcast_to(np.arange(len(f))[:, None], j.shape)
    u = ((2 * j + 1 - width) / f + width - 1) / 2  # the source coordinate of each output pixel
    lo = np.floor(u)
    frac = u - lo
    m = np.zeros((len(f), width, width), dtype=np.float64)
    for src, w in ((lo, 1 - frac), (lo + 1, frac)):
        inside = (src >= 0) & (src <= width - 1)
        if border:
            src, inside = np.clip(src, 0, width - 1), np.ones_like(inside)
        np.add.at(m, (b[inside], j[inside].astype(int), src[inside].astype(int)), w[inside])
    return torch.from_numpy(m.transpose(0, 2, 1).astype(np.float32)).contiguous()  # for x @ m


def _scale_x(x: torch.Tensor, factors: list[float], padding: str) -> torch.Tensor:
    """A batch of images (B, ..., H, W), item b scaled by ``factors[b]`` along W about its centre
    (bilinear; what comes in at the edges: ``"border"`` extends the edge columns, ``"zeros"`` is
    0): one matrix product per item over all of its rows (``bmm``), a fraction of
    ``F.grid_sample``'s time for the same values up to rounding."""
    m = _scale_matrices(x.shape[-1], factors, padding == "border").to(x.dtype)
    return torch.bmm(x.reshape(len(factors), -1, x.shape[-1]), m).view(x.shape)


def squeeze_item(item: dict[str, torch.Tensor], factor: float) -> dict[str, torch.Tensor]:
    """The item seen ``factor`` times as wide (< 1: narrower), about the frame's centre.

    A training augmentation for views no training clip has: turning the camera about a standing
    person narrows or widens the person and the horizontal part of every motion (by the cosine of
    the turn for motion across the body; a profile shows the motion toward the camera instead).
    Cross-view protocols as NTU's train on views 0 and 90 degrees from the subject and test on
    45, whose widths lie between. Frames and crops are resampled (bilinear, their edge columns
    extended), flow too (no motion comes in at the edges) with its x component scaled by the
    same factor and kept in [-1, 1], and the 2D joints' x (in [-1, 1] about the centre) scaled;
    3D skeletons, which a camera turn rotates instead, and the ground truth are unchanged.
    The item is :func:`squeeze_batch` of a batch of one, so an item and a batch squeeze alike.
    """
    one = squeeze_batch({k: v[None] for k, v in item.items() if k in _SQUEEZED}, [factor])
    return {**item, **{k: v[0] for k, v in one.items()}}


def squeeze_batch(batch: dict[str, torch.Tensor], factors: list[float]) -> dict[str, torch.Tensor]:
    """:func:`squeeze_item` of every item of a collated batch at once, item b by ``factors[b]``
    (the batch's tensors are replaced, not changed in place)."""
    out = dict(batch)
    for key, padding in (("rgb", "border"), ("crops", "border"), ("flow", "zeros")):
        if key in out:
            out[key] = _scale_x(out[key], factors, padding)
    f = torch.tensor(factors, dtype=torch.float32)
    if "flow" in out:  # (B, ..., 2L, S, S), channels dx_0, dy_0, dx_1, ...
        per = f.view(-1, *([1] * (out["flow"].dim() - 1)))
        out["flow"][..., 0::2, :, :] = (out["flow"][..., 0::2, :, :] * per).clamp_(-1.0, 1.0)
    if "joints2d" in out:
        j2d = out["joints2d"].clone()
        j2d[..., 0] = j2d[..., 0] * f.view(-1, *([1] * (j2d.dim() - 2)))
        out["joints2d"] = j2d
    return out


JITTER_LIGHT = 0.2  # brightness shift (in [-1, 1] units) and contrast factor spread
JITTER_ZOOM = 0.8  # the smallest share of a crop's side a re-framed crop keeps


def jitter_item(
    item: dict[str, torch.Tensor],
    rng: np.random.Generator,
    *,
    light: float = JITTER_LIGHT,
    zoom: float = JITTER_ZOOM,
) -> dict[str, torch.Tensor]:
    """A training item under other light and a slightly different framing of its crops.

    Brightness (a shift drawn from [-light, light]) and contrast (a factor from [1 - light,
    1 + light] about the mean of the frames, or of the crops) change once per item, the same
    shift and factor for the whole frames and every crop, so the parts still look lit alike.
    Each crop is re-framed on its own: a square of ``zoom`` to 1 of its side, placed at random
    inside it, is resized back to the crop's size, the same for all of its frames (a part box
    that sits a little off, larger or smaller, as a skeleton's error places it). Hue is left
    alone: the held objects are told apart partly by colour. Whole frames are not re-framed,
    since their 2D joints would no longer match them.
    Labels, skeletons, flow and the ground truth are unchanged.
    """
    crops = item.get("crops")
    parts, size = (0, 0) if crops is None else (crops.shape[0], crops.shape[-1])
    shift, gain, windows = _jitter_draws(rng, parts, size, light=light, zoom=zoom)
    out = dict(item)
    if "rgb" in out:  # a copy: the item's own frames stay as they were
        out["rgb"] = _relight_(out["rgb"].clone(), out["rgb"].mean(), gain, shift)
    if crops is not None:
        framed = _reframe_batch(crops[None], [windows])[0]  # a new tensor
        out["crops"] = _relight_(framed, framed.mean(), gain, shift)
    return out


_JitterDraws = tuple[float, float, list[tuple[int, int, int]]]  # shift, gain, each crop's (side, y0, x0)


def _jitter_draws(
    rng: np.random.Generator, parts: int, size: int, *, light: float, zoom: float
) -> _JitterDraws:
    """What :func:`jitter_item` draws from ``rng``, in its order: the shift, the gain, then each of
    ``parts`` crops (of side ``size``) its window's side and corner."""
    shift = float(rng.uniform(-light, light))
    gain = float(rng.uniform(1.0 - light, 1.0 + light))
    windows = []
    for _ in range(parts):
        side = int(round(size * float(rng.uniform(zoom, 1.0))))
        y0, x0 = (int(rng.integers(0, size - side + 1)) for _ in range(2))
        windows.append((side, y0, x0))
    return shift, gain, windows


def _relight_(x: torch.Tensor, mean, gain, shift) -> torch.Tensor:
    """``x`` under contrast ``gain`` about ``mean`` and brightness ``shift``, kept in [-1, 1], in
    place (scalars, or tensors that broadcast: one per item of a batch)."""
    return x.sub_(mean).mul_(gain).add_(mean).add_(shift).clamp_(-1.0, 1.0)


def _reframe_batch(crops: torch.Tensor, windows: list[list[tuple[int, int, int]]]) -> torch.Tensor:
    """(B, P, 3, T, C, C) ``crops``, each cut to its window ``(side, y0, x0)`` (``windows[k][p]``)
    and resized back to C (bilinear), as one new contiguous tensor; the windows of one side are
    resized in one call, each window's T frames a batch of 3-channel images (the values of one
    call per window: bilinear resizing is image by image)."""
    C = crops.shape[-1]
    framed = torch.empty(crops.shape, dtype=crops.dtype, device=crops.device)
    by_side: dict[int, list[tuple[int, int, torch.Tensor]]] = {}
    for k, item_windows in enumerate(windows):
        for p, (side, y0, x0) in enumerate(item_windows):
            window = crops[k, p, :, :, y0 : y0 + side, x0 : x0 + side]  # (3, T, side, side)
            if side == C:
                framed[k, p] = window
            else:
                by_side.setdefault(side, []).append((k, p, window))
    for group in by_side.values():
        stacked = torch.cat([w.transpose(0, 1) for _, _, w in group])  # (G * T, 3, side, side)
        resized = F.interpolate(stacked, size=(C, C), mode="bilinear", align_corners=False)
        resized = resized.unflatten(0, (len(group), -1))  # (G, T, 3, C, C)
        for j, (k, p, _) in enumerate(group):
            framed[k, p] = resized[j].transpose(0, 1)
    return framed


def jitter_batch(batch: dict[str, torch.Tensor], draws: list[_JitterDraws]) -> dict[str, torch.Tensor]:
    """A collated batch (:func:`make_batch`) with item k jittered by ``draws[k]``: equal, value
    for value, to collating :func:`jitter_item`'s items (a test checks it). The whole frames'
    means are taken in the layout an item's frames have, so each sums in the same order; the
    light changes once for the batch, one shift, gain and mean per item, in place (the batch's
    images are its own)."""
    out = dict(batch)
    n = len(draws)
    shift = torch.tensor([d[0] for d in draws], dtype=torch.float32)
    gain = torch.tensor([d[1] for d in draws], dtype=torch.float32)
    if "rgb" in out:  # (B, 3, T, S, S); an item's frames are a channels-first view of (T, S, S, 3)
        rgb = out["rgb"]
        items = [rgb[k].permute(1, 2, 3, 0).contiguous().permute(3, 0, 1, 2) for k in range(n)]
        out["rgb"] = _relight_items_(rgb, torch.stack([x.mean() for x in items]), gain, shift)
    if "crops" in out:  # (B, P, 3, T, C, C)
        crops = _reframe_batch(out["crops"], [d[2] for d in draws])
        means = torch.stack([crops[k].mean() for k in range(n)])  # each item's stack, as jitter_item's
        out["crops"] = _relight_items_(crops, means, gain, shift)
    return out


def _relight_items_(
    x: torch.Tensor, mean: torch.Tensor, gain: torch.Tensor, shift: torch.Tensor
) -> torch.Tensor:
    """:func:`_relight_` of each item of the batch ``x`` with its own (B,) ``mean``, ``gain`` and
    ``shift`` (the same operations in the same order, so the same values)."""
    shape = (len(x),) + (1,) * (x.dim() - 1)
    return _relight_(x, mean.view(shape), gain.view(shape), shift.view(shape))


def mirror_item(
    item: dict[str, torch.Tensor], layout: SkeletonLayout, spec: InputSpec
) -> dict[str, torch.Tensor]:
    """The item of the left-right mirror image of the clip (training augmentation).

    Frames, crops and flow are flipped horizontally (flow's x component changes sign); 2D joints
    change the sign of x (they are in [-1, 1] around the frame's centre) and 3D joints that of x
    around the body centre, and both swap left and right joints. Part crops swap their left and
    right parts, the ground-truth parts follow, and the dominant and acting hands swap. A
    left-handed subject drinking becomes a right-handed one drinking, so a model cannot learn
    "the right hand" instead of "the hand that acts". Every class of the supported datasets keeps
    its label under a mirror (none is defined by a side). Every axis is counted from the end, so
    a batch of items (leading batch axis) mirrors the same way.
    """
    out = dict(item)
    joints = _index(layout.mirror_joints)
    if "rgb" in out:
        out["rgb"] = out["rgb"].flip(-1)
    if "crops" in out and spec.crops is not None:  # (..., P, 3, T, C, C)
        names = spec.crops.parts
        order = _index(tuple(names.index(mirror_name(n)) for n in names))
        out["crops"] = out["crops"].flip(-1).index_select(-5, order)
    if "flow" in out:  # (..., 2L, S, S), channels dx_0, dy_0, dx_1, ...
        flow = out["flow"].flip(-1).clone()
        flow[..., 0::2, :, :] = -flow[..., 0::2, :, :]
        out["flow"] = flow
    if "joints2d" in out:
        j2d = out["joints2d"][..., joints, :].clone()
        j2d[..., 0] = -j2d[..., 0]
        out["joints2d"] = j2d
    if "skeleton" in out:
        skel = out["skeleton"][..., joints, :].clone()
        skel[..., 0] = -skel[..., 0]
        out["skeleton"] = skel
    if "truth_parts" in out:
        out["truth_parts"] = out["truth_parts"][..., _index(layout.mirror_parts)]
    for key in ("truth_dominant", "truth_acting"):  # 0 left, 1 right, -1 none
        if key in out:
            out[key] = torch.where(out[key] >= 0, 1 - out[key], out[key])
    return out


@functools.lru_cache(maxsize=64)
def _index(order: tuple[int, ...]) -> torch.Tensor:
    """A permutation as an index tensor, made once (items are mirrored many times per epoch)."""
    return torch.tensor(order, dtype=torch.long)


# InputSpec fields that only choose what an item takes from the prepared arrays
SAMPLING_FIELDS = (
    "num_frames", "skeleton_frames", "num_persons", "flow_frames", "flow_stacks", "test_flow_stacks",
)  # fmt: skip


def _spec_key(spec: InputSpec) -> dict:
    """The settings that change the prepared arrays (sampling counts do not)."""
    d = asdict(spec)
    for k in SAMPLING_FIELDS:
        d.pop(k)
    d["rgb"] = spec.num_frames > 0
    d["skeleton"] = spec.skeleton_frames > 0
    if spec.flow_frames > 0:  # the stack length is sampling, but whether flow is cached is not
        d["flow"] = True
    return d


def _write_prepared(path: Path, prep: _Prepared) -> None:
    """The prepared arrays as one ``.prep`` file (see the module docstring)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {"frame_index": prep.frame_index}
    for k in ("frames", "crops", "joints2d", "skeleton", "flow"):
        v = getattr(prep, k)
        if v is None:
            continue
        if k in PACKED:
            if not isinstance(v, PackedFrames):
                v = PackedFrames.pack(np.moveaxis(v, 1, 0) if k == "crops" else v)
            arrays[f"{k}.blob"], arrays[f"{k}.offsets"] = v.blob, v.offsets
            arrays[f"{k}.step_shape"] = np.array(v.step_shape, dtype=np.int64)
            arrays[f"{k}.key"] = np.array(v.key, dtype=np.int64)
        else:
            arrays[k] = v
    arrays.update({f"extra.{k}": np.asarray(v) for k, v in prep.extras.items()})
    header, chunks, offset = {}, [], 0
    for k, v in arrays.items():
        v = np.asarray(v)  # (not ascontiguousarray, which makes a 0-d array 1-d)
        raw = v.tobytes()  # C order whatever the layout
        codec = "raw" if k.endswith(".blob") else "zlib"
        data = raw if codec == "raw" else zlib.compress(raw, 4)
        header[k] = {"dtype": v.dtype.str, "shape": list(v.shape), "offset": offset, "size": len(data),
                     "codec": codec}  # fmt: skip
        chunks.append(data)
        offset += len(data)
    head = json.dumps(header).encode()
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.partial")
    with open(tmp, "wb") as f:
        f.write(CACHE_MAGIC + len(head).to_bytes(8, "little") + head)
        for data in chunks:
            f.write(data)
    tmp.replace(path)


def _read_prepared(path: Path) -> _Prepared:
    """The arrays of a ``.prep`` file; ``ValueError`` when it is not one or does not add up."""
    with open(path, "rb") as f:  # read straight into a writable buffer, so the arrays are too
        buf = bytearray(os.fstat(f.fileno()).st_size)
        f.readinto(buf)
    n = len(CACHE_MAGIC)
    if buf[:n] != CACHE_MAGIC or len(buf) < n + 8:
        raise ValueError(f"{path} is not a prepared-clip file")
    size = int.from_bytes(buf[n : n + 8], "little")
    header = json.loads(bytes(buf[n + 8 : n + 8 + size]))
    start = n + 8 + size
    get: dict[str, np.ndarray] = {}
    for k, h in header.items():
        lo, hi = start + int(h["offset"]), start + int(h["offset"]) + int(h["size"])
        if hi > len(buf):
            raise ValueError(f"{path} is truncated ({k} ends at byte {hi} of {len(buf)})")
        dtype = np.dtype(h["dtype"])
        if dtype.hasobject:
            raise ValueError(f"{path}: {k} has an object dtype")
        data = memoryview(buf)[lo:hi] if h["codec"] == "raw" else bytearray(zlib.decompress(buf[lo:hi]))
        get[k] = np.frombuffer(data, dtype=dtype).reshape(h["shape"])
    for k in PACKED:
        if f"{k}.blob" in get:
            blob, offsets, shape = get.pop(f"{k}.blob"), get.pop(f"{k}.offsets"), get.pop(f"{k}.step_shape")
            get[k] = PackedFrames(blob, offsets, tuple(shape), int(get.pop(f"{k}.key")))
    extras = {k.removeprefix("extra."): v for k, v in get.items() if k.startswith("extra.")}
    return _Prepared(
        frames=get.get("frames"),
        crops=get.get("crops"),
        joints2d=get.get("joints2d"),
        frame_index=get["frame_index"],
        skeleton=get.get("skeleton"),
        extras=extras,
        flow=get.get("flow"),
    )
