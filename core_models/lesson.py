"""A lesson for a clip: what the lesson export shows, computed (``python -m core_models lesson``).

The chosen model's inspection and its "why X and not Y" explanations (with each class alone),
plus one more model for each attention view the chosen one lacks (body parts, spatio-temporal,
the granularity slide, glimpses), handed to :func:`viz.lesson.lesson_html`, which writes the one
self-contained HTML file. The app's Lesson page does the same from its caches.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from core_models.data.clip import Clip
from core_models.inspect import LoadedModel, inspect_clip, load_model

ROOT = Path(__file__).resolve().parents[1]
# The shipped checkpoints that draw a view, in the order a lesson borrows them.
VIEW_MODELS = ("part_attention-cs", "separable_sta-cs", "temporal_granularity-cs", "glimpse_clouds-cs")
FALLBACK_METHOD = "saliency"  # for a model Grad-CAM does not apply to


def resolve_checkpoint(name: str | Path) -> Path:
    """A checkpoint file from a path (a ``.pt`` file or a run directory) or a shipped run's name."""
    path = Path(name)
    if path.is_dir():
        path = path / "model.pt"
    if not path.exists():
        path = ROOT / "checkpoints" / str(name) / "model.pt"
    if not path.is_file():
        raise FileNotFoundError(
            f"no checkpoint {name!r}: give a .pt file, a run directory or a name in checkpoints/"
        )
    return path


def choose_models(main: LoadedModel, candidates: Iterable[LoadedModel]) -> list[LoadedModel]:
    """``main`` and, in order, each candidate that draws a view no model before it draws, or draws
    it fully where the models before it draw part of it (spatial maps where only temporal weights
    were)."""
    from viz.lesson import lesson_plan

    chosen = [main]
    for c in candidates:
        before = lesson_plan([(m.name, m.attention_kinds) for m in chosen])
        after = lesson_plan([(m.name, m.attention_kinds) for m in [*chosen, c]])
        if after != before:
            chosen.append(c)
    return chosen


def build_lesson(clip: Clip, models: list[LoadedModel], method: str = "grad_cam") -> str:
    """The lesson's HTML for ``clip``: ``models[0]`` explained, every model's views drawn.

    Models that cannot read the clip are left out (the first one must read it).
    """
    from core_models.explain import ExplainSettings, contrast_runs, explain
    from viz.lesson import lesson_html

    inspections = []
    for m in models:
        try:
            inspections.append((m.name, inspect_clip(m, clip)))
        except ValueError:
            if m is models[0]:
                raise
    main = inspections[0][1]
    expls = []
    for name in (method, FALLBACK_METHOD):
        try:
            runs = contrast_runs(main.pred, main.label, ExplainSettings(name))
            expls = [explain(models[0], clip, s) for s in runs]
            break
        except ValueError:  # Grad-CAM on a model without a feature map or recurrent layer
            continue
    return lesson_html(clip, inspections, expls)


def lesson_for(
    clip: Clip, model: str | Path, extra: Iterable[str | Path] = VIEW_MODELS, method: str = "grad_cam"
) -> str:
    """:func:`build_lesson` for checkpoints named by path or shipped name (the CLI's entry)."""
    main = load_model(resolve_checkpoint(model), Path(str(model)).name.removesuffix(".pt"))
    others = [load_model(resolve_checkpoint(e), Path(str(e)).name) for e in extra if str(e) != str(model)]
    return build_lesson(clip, choose_models(main, others), method)
