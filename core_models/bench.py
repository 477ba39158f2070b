"""Benchmarks behind the speed figures of the README (``python -m core_models bench <target>``).

Speed goals are measured here, not asserted in timed tests: timings depend on the machine, so
the README records what this command printed and on which machine.

Targets:
    synth   time to perform and render one synthetic clip, per class, at the dataset's size
            (160x120) and at the app's size (320x240)
"""

from __future__ import annotations

import platform
import statistics
import time
from typing import Any


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


TARGETS = {"synth": bench_synth}


def format_bench(results: dict[str, Any]) -> str:
    lines = [f"machine: {results['machine']}"]
    for key, value in results.items():
        if key != "machine":
            lines.append(f"{key}: " + ", ".join(f"{k} {v}" for k, v in value.items()))
    return "\n".join(lines)
