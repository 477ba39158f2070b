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
            pose-driven attention checkpoints: seconds and peak memory per clip; and Grad-CAM
            against one inspection and against captum's LayerGradCam on the same layer
    video   users' own videos, written here with OpenCV: a 30 s 720p clip of a rendered person
            (first view of the clip page, pose estimate and its frames per second, the view with
            the pose), a 200 MB 1080p file and a 5-minute one (first view of the default window);
            seconds and the resident memory of a fresh app process (after imports, and its peak)
    train   the project's training loop and a minimal loop on the same model and batch in steps/s,
            ``evaluate`` against the pure forward, and each model's forward FLOP/s against a
            matmul of the same run (``core_models.bench_train``)
    ood     how well each out-of-distribution score separates held-out synthetic test clips from
            noise, the empty room, still clips, real photographs and shuffled clips (AUROC), per
            shipped cross-subject checkpoint; and the skeleton models on BlazePose's poses of the
            test clips instead of their skeleton files
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import numpy as np

from core_models.results import machine  # noqa: F401 (the benchmarks' machine line; bench_app reads it here)


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
    from core_models.synth.generate import standing_heights

    h = standing_heights()
    stats = {"min": h.min(), "median": np.median(h), "max": h.max()}
    results["standing height, px of the 64x64 square"] = {k: round(float(v), 1) for k, v in stats.items()}
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
    from viz.baselines import draw_warp
    from viz.glimpses import draw_glimpses
    from viz.granularity import granularity_image, granularity_rows
    from viz.heatmap import overlay_heatmap, upsample_maps
    from viz.parts import draw_part_boxes, enlarge

    att, frames = insp.attention, clip.frames
    if "parts" in att and insp.part_boxes is not None:  # on frames enlarged as the page's are
        big, scale = enlarge(frames)
        return draw_part_boxes(big, insp.part_boxes * scale, att["parts"], insp.part_names)
    if "spatial" in att:
        return overlay_heatmap(frames, upsample_maps(att["spatial"], frames.shape[1:3], len(frames)))
    if "glimpses" in att:
        return draw_glimpses(frames, att["glimpses"], view_boxes=insp.view_boxes)
    if "segments" in att:
        rows = granularity_rows(att["segments"], att["granularity"], len(frames))
        return granularity_image(frames, rows)[None]
    if "grid" in att and insp.view_boxes is not None:  # the STN's warp, on the clip page's frames
        big, scale = enlarge(frames)
        return draw_warp(big, att["grid"], insp.view_boxes, scale)
    return None  # self-attention: charts only


def bench_inspect(repeats: int = 5, models: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Per shipped CS checkpoint: model load, inference (cold, then median of ``repeats``),
    overlays on every frame and their WebM encoding, for one synthetic clip at the dataset's size;
    and for a model whose attention can be steered, the pages' "what if" replay of the clip with
    its attention replaced (``what_if_ms``: :func:`core_models.inspect.what_if`, the median of
    ``repeats``; ``what_if_runs``: how many forwards it makes, its own included).

    ``models`` limits it to some models (names of MODELS); default all.
    """
    from pathlib import Path

    from core_models.inspect import inspect_clip, load_model, what_if
    from core_models.synth.generate import dataset_clip
    from viz.export import webm_bytes

    start = time.perf_counter()
    clip = dataset_clip("S001C002P003R001A002")  # eat meal, a hand action
    results: dict[str, Any] = {
        "machine": machine(),
        "clip": {"frames": clip.num_frames, "size": f"{clip.frames.shape[2]}x{clip.frames.shape[1]}",
                 "load_ms": round(1000 * (time.perf_counter() - start))},
    }  # fmt: skip
    shipped = Path(__file__).parents[1] / "checkpoints"
    for name in sorted(p.name for p in shipped.glob("*-cs") if p.is_dir()):
        path = shipped / name / "model.pt"
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
        if getattr(loaded.model, "steerable", ()):
            replays = []
            for _ in range(repeats):
                start = time.perf_counter()
                rows = what_if(loaded, clip)
                replays.append(time.perf_counter() - start)
            results[name.removesuffix("-cs")].update(
                what_if_ms=round(1000 * statistics.median(replays)), what_if_runs=len(rows)
            )
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
        row.update(_grad_cam_against(loaded, clip))
        results[model] = row
    results["memory"] = {"measure": "peak RSS rise (VmHWM after clear_refs)"}
    results["grad_cam"] = {
        "measure": f"median wall / min CPU seconds of {GRAD_CAM_REPEATS} interleaved runs, one torch "
        "thread; captum's LayerGradCam on the first Grad-CAM layer, its input prepared the same way"
    }
    return results


# -- users' videos ----------------------------------------------------------------------------


def write_test_video(path, seconds: float, size: tuple[int, int], *, noise: float = 0.0, fps: float = 30.0):
    """A video of a rendered person (a synthetic clip looped) at ``size`` (H, W), mp4v or MJPG by extension.

    ``noise`` adds that much Gaussian grain (standard deviation in grey levels), which makes the
    file large as real high-resolution footage is.
    """
    import cv2

    from core_models.synth import render_clip

    clip = render_clip("S001C001P001R001A001", size=(240, 320))  # drink water
    h, w = size
    side = min(h / 240, w / 320)
    inner = (int(320 * side), int(240 * side))
    x0, y0 = (w - inner[0]) // 2, (h - inner[1]) // 2
    fourcc = "MJPG" if str(path).endswith(".avi") else "mp4v"
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (w, h))
    rng = np.random.default_rng(0)
    grain = rng.normal(0, noise, (4, h, w, 3)).astype(np.int16) if noise else None
    canvas = np.full((h, w, 3), 40, np.uint8)
    for t in range(int(seconds * fps)):
        frame = clip.frames[t % clip.num_frames]
        canvas[y0 : y0 + inner[1], x0 : x0 + inner[0]] = cv2.resize(frame, inner)[..., ::-1]
        f = canvas if grain is None else np.clip(canvas + grain[t % 4], 0, 255).astype(np.uint8)
        out.write(f)
    out.release()
    return path


_FIRST_VIEW = """
import json, re, sys, time
from core_models.bench import _proc_status
from streamlit.testing.v1 import AppTest
import core_models.pose.estimate, core_models.inspect, app_support.state  # the app's imports
video, length, model, pose_model = sys.argv[1], (int(sys.argv[2]) or None), sys.argv[3], sys.argv[4]
base = _proc_status("VmRSS")
source = {"kind": "upload", "video": video, "skeleton": None, "start": 0, "length": length}
def view(model):
    at = AppTest.from_file("pages/clip.py", default_timeout=600)
    at.session_state["clip_source"], at.session_state["model_name"] = dict(source), model
    t = time.perf_counter()
    at.run()
    assert not at.exception, at.exception
    return time.perf_counter() - t, at
first, at = view(model)
frames = int(re.search(r"(\\d+) frames", at.caption[0].value).group(1))
out = {"base_mib": base / 2**20, "first_view_s": first, "frames": frames}
out["peak_mib"] = _proc_status("VmHWM") / 2**20
if pose_model:
    from app_support.sources import estimate_pose, pose_path
    t = time.perf_counter()
    stats = estimate_pose(source, frames)
    out.update(pose_s=time.perf_counter() - t, pose_fps=stats["fps"])
    source["pose"] = str(pose_path(source))
    second, at = view(pose_model)
    assert "Prediction:" in at.subheader[0].value, "the pose-driven model did not read the clip"
    out.update(pose_view_s=second, peak_after_pose_mib=_proc_status("VmHWM") / 2**20)
print(json.dumps(out))
"""


def _first_view(video, length: int | None, model: str, pose_model: str = "") -> dict[str, Any]:
    """Run the clip page on an upload in a fresh process (AppTest); its seconds and memory.

    With ``pose_model``, then estimate the pose (as the page's button does) and view the clip
    again with that model.
    """
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).parents[1]
    args = [sys.executable, "-c", _FIRST_VIEW, str(video), str(length or 0), model, pose_model]
    env = dict(os.environ, PYTHONPATH=str(root), GLOG_minloglevel="2")
    done = subprocess.run(args, cwd=root, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"first view failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def bench_video() -> dict[str, Any]:
    """Users' own videos through the clip page, in fresh processes (see the module docstring)."""
    import tempfile
    from pathlib import Path

    from app_support.uploads import DEFAULT_WINDOW_SECONDS

    results: dict[str, Any] = {"machine": machine()}
    with tempfile.TemporaryDirectory(prefix="bench-video-") as tmp:
        tmp = Path(tmp)
        cases = {
            "30 s 720p mp4": (
                write_test_video(tmp / "clip720.mp4", 30, (720, 1280)), None, "part_attention-cs"
            ),
            "200 MB 1080p mp4": (write_test_video(tmp / "big1080.mp4", 12, (1080, 1920), noise=24), None, ""),
            "5 min 360p mp4, first 30 s": (
                write_test_video(tmp / "long360.mp4", 300, (360, 640)), int(DEFAULT_WINDOW_SECONDS * 30), ""
            ),
        }  # fmt: skip
        for label, (path, length, pose_model) in cases.items():
            row = _first_view(path, length, "i3d-cs", pose_model)
            row["file_mb"] = path.stat().st_size / 1e6
            results[label] = {k: round(v, 2) if isinstance(v, float) else v for k, v in row.items()}
    results["memory"] = {"measure": "resident MiB of a fresh process: after imports (base) and its peak"}
    return results


def bench_ood(
    per_kind: int = 12, test_clips: int = 98, models: tuple[str, ...] | None = None
) -> dict[str, Any]:
    """AUROC of every out-of-distribution score per shipped CS checkpoint (see the module docstring).

    ``models`` limits it to some models (a row does not depend on the others); default all, and
    the ``mean auroc`` row is over the models measured.
    """
    from pathlib import Path

    from core_models.inspect import check_fits, load_model
    from core_models.ood.fit import measure
    from core_models.ood.inputs import ood_clips, with_estimated_pose
    from core_models.ood.stats import SCORES
    from core_models.synth.generate import dataset_clip

    root = Path(__file__).parents[1] / "checkpoints"
    names = _test_names(test_clips)
    inside = [dataset_clip(n) for n in names]
    outside = ood_clips(inside, per_kind=per_kind)
    estimated = [with_estimated_pose(_without_skeleton(c)) for c in inside]
    results: dict[str, Any] = {"machine": machine(), "clips": {"test": len(inside)}}
    results["clips"].update({k: len(v) for k, v in outside.items()})
    means = {s: [] for s in SCORES}
    for path in sorted(root.glob("*-cs/model.pt")):
        if models is not None and path.parent.name.removesuffix("-cs") not in models:
            continue
        loaded = load_model(path, path.parent.name)
        if loaded.ood is None:
            continue
        model = loaded.model

        def readable(clip, model=model):
            try:
                check_fits(model, clip)
                return True
            except ValueError:
                return False

        m = measure(model, loaded.ood, inside, outside, readable=readable)
        row = {f"auroc_{s}": round(m["auroc"]["all"][s], 3) for s in SCORES if "all" in m["auroc"]}
        for s in SCORES:
            if "all" in m["auroc"]:
                means[s].append(m["auroc"]["all"][s])
        row.update({f"auroc_{k}": round(v[loaded.ood.score], 3) for k, v in m["auroc"].items() if k != "all"})
        row["threshold"] = round(loaded.ood.threshold, 3)
        row["test_flagged"] = round(m["inside_rate"], 3)
        row.update({f"flagged_{k}": round(v, 2) for k, v in m["outside_rate"].items()})
        if "skeleton" in getattr(model, "inputs", ()):
            row.update(_on_estimated_pose(loaded, inside, estimated))
        results[path.parent.name] = row
    results["mean auroc"] = {s: round(float(np.mean(v)), 3) for s, v in means.items() if v}
    return results


def _test_names(n: int) -> list[str]:
    """``n`` cross-subject test clips of the synthetic data, spread over classes, subjects and cameras."""
    from core_models.data.ntu import CS_TRAIN_SUBJECTS_60, format_name
    from core_models.synth import SYNTH_ACTIONS, SYNTH_SUBJECTS, setup_for

    subjects = [p for p in SYNTH_SUBJECTS if p not in CS_TRAIN_SUBJECTS_60]
    names = []
    for i in range(n):
        action = SYNTH_ACTIONS[i % len(SYNTH_ACTIONS)]
        p = subjects[(i // len(SYNTH_ACTIONS)) % len(subjects)]
        rep, cam = 1 + (i // 7) % 2, 1 + i % 3
        names.append(format_name(setup_for(p, rep), cam, p, rep, action))
    return names


def _without_skeleton(clip):
    from core_models.data.clip import Clip

    return Clip(clip.name, clip.layout, clip.label, clip.label_name, clip.frames, None, None, dict(clip.meta))


def _on_estimated_pose(loaded, inside, estimated) -> dict[str, Any]:
    """Top-1 and the share flagged out of distribution, on the skeleton files vs BlazePose's poses."""
    from core_models.inspect import inspect_clip

    out = {}
    for label, clips in (("file", inside), ("blazepose", estimated)):
        readable = [c for c in clips if c.joints3d is not None]
        insps = [inspect_clip(loaded, c) for c in readable]
        out[f"top1_{label}_skeleton"] = round(
            float(np.mean([i.pred == c.label for i, c in zip(insps, readable)])), 3
        )
        out[f"flagged_{label}_skeleton"] = round(float(np.mean([i.outside for i in insps])), 3)
    return out


def bench_app() -> dict[str, Any]:
    """The app in a real browser: page times and server memory (see :mod:`core_models.bench_app`)."""
    from core_models.bench_app import bench_app as run

    return run()


GRAD_CAM_REPEATS = 9


def _grad_cam_against(loaded, clip) -> dict[str, Any]:
    """Grad-CAM (``explain``) against one inspection and captum's LayerGradCam on the same layer.

    Each is timed from the clip (the input prepared as evaluation prepares it) to its result,
    interleaved ``GRAD_CAM_REPEATS`` times after a warm-up, with one torch thread: wall seconds
    (median) and process CPU seconds (minimum, which a busy machine disturbs least; with one
    thread no thread waits for another inside it).
    """
    import torch
    from captum.attr import LayerGradCam

    from core_models.explain import ExplainSettings, explain
    from core_models.explain import attribution as attr
    from core_models.inspect import inspect_clip

    settings = ExplainSettings("grad_cam")
    target = explain(loaded, clip, settings).target  # warm-up; the layer search runs here, once
    first = attr.gradcam_layers(loaded.model, attr._prepare(loaded, clip))[0]

    def captum() -> None:
        inputs = attr._prepare(loaded, clip)
        with torch.enable_grad():
            LayerGradCam(inputs.forward(), first.module).attribute(
                inputs.tensors, target=target, relu_attributions=True
            )

    runs = {
        "inspect": lambda: inspect_clip(loaded, clip),
        "grad_cam": lambda: explain(loaded, clip, settings),
        "layer_grad_cam": captum,
    }
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        captum()
        wall: dict[str, list[float]] = {k: [] for k in runs}
        cpu: dict[str, list[float]] = {k: [] for k in runs}
        for _ in range(GRAD_CAM_REPEATS):
            for key, run in runs.items():
                w, c = time.perf_counter(), time.process_time()
                run()
                wall[key].append(time.perf_counter() - w)
                cpu[key].append(time.process_time() - c)
    finally:
        torch.set_num_threads(threads)
    w = {k: statistics.median(v) for k, v in wall.items()}
    c = {k: min(v) for k, v in cpu.items()}
    return {
        "inspect_ms": round(1000 * w["inspect"]),
        "grad_cam_ms": round(1000 * w["grad_cam"]),
        "layer_grad_cam_ms": round(1000 * w["layer_grad_cam"]),
        "grad_cam_x_inspect": round(w["grad_cam"] / w["inspect"], 2),
        "grad_cam_x_layer_grad_cam": round(w["grad_cam"] / w["layer_grad_cam"], 2),
        "cpu_grad_cam_x_inspect": round(c["grad_cam"] / c["inspect"], 2),
        "cpu_grad_cam_x_layer_grad_cam": round(c["grad_cam"] / c["layer_grad_cam"], 2),
        "grad_cam_layers": len(attr.gradcam_layers(loaded.model, attr._prepare(loaded, clip))),
    }


def bench_train(models: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The project's training loop against a minimal one, evaluation against the pure forward, and
    each model's forward FLOP/s against a matmul (``core_models.bench_train``); ``models`` limits
    it to some models."""
    from core_models.bench_train import bench_train as run

    return run() if models is None else run(models)


def bench_gpu() -> dict[str, Any]:
    """Every model's ``paper`` preset at its full input size on a CUDA device: training and
    evaluation clips/s under bf16 autocast, a float16 step with a GradScaler, FLOP/s against a bf16
    matmul and peak memory (``core_models.bench_gpu``)."""
    from core_models.bench_gpu import bench_gpu as run

    return run()


TARGETS = {
    "synth": bench_synth, "data": bench_data, "inspect": bench_inspect, "explain": bench_explain,
    "video": bench_video, "ood": bench_ood, "app": bench_app, "train": bench_train, "gpu": bench_gpu,
}  # fmt: skip


def format_bench(results: dict[str, Any]) -> str:
    lines = [f"machine: {results['machine']}"]
    for key, value in results.items():
        if key != "machine":
            lines.append(f"{key}: " + ", ".join(f"{k} {v}" for k, v in value.items()))
    return "\n".join(lines)
