"""Benchmarks behind the speed figures of the README (``python -m core_models bench <target>``).

Speed goals are measured here, not asserted in timed tests: timings depend on the machine, so
the README records what this command printed and on which machine.

Targets:
    synth   time to perform and render one synthetic clip, per class, at the dataset's size
            (160x120) and at the app's size (320x240)
    data    time per clip to make a training item: decoding and preparing it the first time
            (video, crops, skeleton) against reading it from the on-disk cache afterwards
    inspect what the app does when a clip is inspected, per shipped cross-subject checkpoint:
            loading the model, running it with all its attention on one synthetic clip, and
            drawing that attention's overlays on every frame and encoding them as WebM
    explain what the app's attribution view costs per method (Integrated Gradients with 32 steps,
            saliency, occlusion, Grad-CAM, segment ablation) on one synthetic clip, for the
            pose-driven attention checkpoints: seconds and peak memory per clip
"""

from __future__ import annotations

import platform
import statistics
import time
from typing import Any

import numpy as np


def machine() -> str:
    """A short description of the machine a figure was measured on."""
    import os

    import torch

    model = platform.processor() or platform.machine()
    try:  # Linux names the CPU model here; platform.processor() is often empty there
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            model = next(ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{model}, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads)"


def bench_synth(repeats: int = 1) -> dict[str, Any]:
    """Render one clip of every synthetic class at two sizes and time it (one process)."""
    from core_models.data.ntu import format_name
    from core_models.synth import SYNTH_ACTIONS, render_clip, setup_for

    results: dict[str, Any] = {"machine": machine()}
    for label, size in (("dataset 160x120", (120, 160)), ("app 320x240", (240, 320))):
        render_clip(format_name(setup_for(1, 1), 1, 1, 1, SYNTH_ACTIONS[0]), size=size)  # warm caches
        times, frames = [], []
        for i, action in enumerate(SYNTH_ACTIONS):
            subject = 1 + i % 20
            name = format_name(setup_for(subject, 1 + i % 2), 1 + i % 3, subject, 1 + i % 2, action)
            for _ in range(repeats):
                start = time.perf_counter()
                clip = render_clip(name, size=size)
                times.append(time.perf_counter() - start)
                frames.append(clip.num_frames)
        results[label] = {
            "clips": len(times),
            "mean_s": round(statistics.mean(times), 3),
            "max_s": round(max(times), 3),
            "mean_frames": round(statistics.mean(frames), 1),
        }
    return results


def bench_data() -> dict[str, Any]:
    """Items per second of a ClipDataset before and after its cache is warm (28 synthetic clips)."""
    import tempfile
    from pathlib import Path

    from core_models.data.crops import CropSpec
    from core_models.data.datasets import ClipDataset, InputSpec
    from core_models.synth import synth_reader, write_dataset

    spec = InputSpec(num_frames=16, frame_size=64, crops=CropSpec(size=32), skeleton_frames=20)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "synth"
        write_dataset(root, subjects=(1, 3), cameras=(1,), repetitions=(1,), workers=1, progress=False)
        reader = synth_reader(root)
        refs = reader.list_clips()
        start = time.perf_counter()
        for ref in refs:
            reader.load(ref)
        decode = (time.perf_counter() - start) / len(refs)
        ds = ClipDataset(reader, refs, spec, train=True, cache_dir=Path(tmp) / "cache")
        start = time.perf_counter()
        for i in range(len(ds)):
            ds[i]
        cold = (time.perf_counter() - start) / len(ds)
        start = time.perf_counter()
        for epoch in range(3):
            ds.set_epoch(epoch)
            for i in range(len(ds)):
                ds[i]
        warm = (time.perf_counter() - start) / (3 * len(ds))
        cache_bytes = sum(f.stat().st_size for f in (Path(tmp) / "cache").iterdir())
    return {
        "machine": machine(),
        "items": {
            "clips": len(refs),
            "decode_only_ms": round(1000 * decode, 1),
            "first_epoch_ms": round(1000 * cold, 1),
            "cached_ms": round(1000 * warm, 1),
            "speed-up": round(cold / warm, 1),
            "cache_kib_per_clip": round(cache_bytes / len(refs) / 1024, 1),
        },
    }


def _overlays(insp, clip) -> np.ndarray | None:
    """The overlay clip an inspection page draws for the attention in ``insp`` (None without one)."""
    from viz.glimpses import draw_glimpses
    from viz.granularity import granularity_image, granularity_rows
    from viz.heatmap import overlay_heatmap, upsample_maps
    from viz.parts import draw_part_boxes

    att, frames = insp.attention, clip.frames
    if "parts" in att and insp.part_boxes is not None:
        return draw_part_boxes(frames, insp.part_boxes, att["parts"], insp.part_names)
    if "spatial" in att:
        return overlay_heatmap(frames, upsample_maps(att["spatial"], frames.shape[1:3], len(frames)))
    if "glimpses" in att:
        return draw_glimpses(frames, att["glimpses"], view_boxes=insp.view_boxes)
    if "segments" in att:
        rows = granularity_rows(att["segments"], att["granularity"], len(frames))
        return granularity_image(frames, rows)[None]
    return None


def bench_inspect(repeats: int = 5, models: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Per shipped CS checkpoint: model load, inference (cold, then median of ``repeats``),
    overlays on every frame and their WebM encoding, for one synthetic clip at the dataset's size.

    ``models`` limits it to some models (names of MODELS); default all.
    """
    from pathlib import Path

    from core_models.inspect import inspect_clip, load_model
    from core_models.reproduce import SHIPPED
    from core_models.synth.generate import dataset_clip
    from viz.export import webm_bytes

    start = time.perf_counter()
    clip = dataset_clip("S001C002P003R001A002")  # eat meal, a hand action
    results: dict[str, Any] = {
        "machine": machine(),
        "clip": {"frames": clip.num_frames, "size": f"{clip.frames.shape[2]}x{clip.frames.shape[1]}",
                 "load_ms": round(1000 * (time.perf_counter() - start))},
    }  # fmt: skip
    for name in sorted(s.name for s in SHIPPED if s.protocol == "cs"):
        path = Path(__file__).parents[1] / "checkpoints" / name / "model.pt"
        if not path.is_file() or (models is not None and name.removesuffix("-cs") not in models):
            continue
        start = time.perf_counter()
        loaded = load_model(path, name)
        load = time.perf_counter() - start
        cold = inspect_clip(loaded, clip).seconds
        warm = statistics.median(inspect_clip(loaded, clip).seconds for _ in range(repeats))
        insp = inspect_clip(loaded, clip)
        start = time.perf_counter()
        frames = _overlays(insp, clip)
        draw = time.perf_counter() - start
        start = time.perf_counter()
        if frames is not None and len(frames) > 1:
            webm_bytes(frames, 30.0)
        encode = time.perf_counter() - start
        results[name.removesuffix("-cs")] = {
            "load_ms": round(1000 * load),
            "first_inference_ms": round(1000 * cold),
            "inference_ms": round(1000 * warm),
            "overlays_ms": round(1000 * draw),
            "webm_ms": round(1000 * encode),
            "total_ms": round(1000 * (load + cold + draw + encode)),
        }
    return results


def _peak_rss_reset() -> int:
    """Reset the process's peak resident set (Linux ``clear_refs``); returns the current RSS in bytes."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    return _proc_status("VmRSS")


def _proc_status(key: str) -> int:
    try:
        with open("/proc/self/status", encoding="utf-8") as f:
            line = next(ln for ln in f if ln.startswith(key + ":"))
        return int(line.split()[1]) * 1024
    except (OSError, StopIteration):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def bench_explain(
    models: tuple[str, ...] = ("part_attention", "separable_sta", "temporal_granularity"),
) -> dict[str, Any]:
    """Seconds and peak memory of each attribution method on one synthetic clip, per CS checkpoint.

    Memory is the rise of the peak resident set size during the call: the peak is reset through
    ``/proc/self/clear_refs`` before each method and read from ``VmHWM`` after it (Linux; elsewhere
    the ``ru_maxrss`` high-water mark, which only shows a rise above the process's earlier peak).
    Each model is warmed up with one saliency pass first (one-off kernel set-up is not counted).
    """
    from pathlib import Path

    from core_models.explain import ExplainSettings, explain
    from core_models.inspect import load_model
    from core_models.synth.generate import dataset_clip

    clip = dataset_clip("S001C002P003R001A002")  # eat meal, a hand action
    results: dict[str, Any] = {"machine": machine(), "clip": {"name": clip.name, "frames": clip.num_frames}}
    runs = {
        "ig32": ExplainSettings("integrated_gradients", steps=32),
        "saliency": ExplainSettings("saliency"),
        "grad_cam": ExplainSettings("grad_cam"),
        "segment_ablation": ExplainSettings("segment_ablation"),
        "occlusion": ExplainSettings("occlusion"),
    }
    for model in models:
        path = Path(__file__).parents[1] / "checkpoints" / f"{model}-cs" / "model.pt"
        if not path.is_file():
            continue
        loaded = load_model(path, model)
        explain(loaded, clip, runs["saliency"])  # warm-up
        row: dict[str, Any] = {}
        for key, settings in runs.items():
            base = _peak_rss_reset()
            start = time.perf_counter()
            explain(loaded, clip, settings)
            row[f"{key}_s"] = round(time.perf_counter() - start, 2)
            row[f"{key}_peak_mib"] = round((_proc_status("VmHWM") - base) / 2**20)
        results[model] = row
    results["memory"] = {"measure": "peak RSS rise (VmHWM after clear_refs)"}
    return results


TARGETS = {"synth": bench_synth, "data": bench_data, "inspect": bench_inspect, "explain": bench_explain}


def format_bench(results: dict[str, Any]) -> str:
    lines = [f"machine: {results['machine']}"]
    for key, value in results.items():
        if key != "machine":
            lines.append(f"{key}: " + ", ".join(f"{k} {v}" for k, v in value.items()))
    return "\n".join(lines)
