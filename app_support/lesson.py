"""The Lesson page's computations: which models draw which view, and the lesson's HTML (cached).

The sidebar's model draws every view it has; each view it lacks is borrowed from the first listed
model that has it, preferring one trained on the same protocol. Inspections and explanations come
from the app's caches (:mod:`app_support.state`, :mod:`app_support.explaining`), so a lesson of a
clip already looked at costs only the drawing.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from app_support import explaining, state
from app_support.models import ModelEntry
from app_support.sources import source_key
from core_models import explain as ex
from core_models.data.clip import Clip
from viz.lesson import VIEWS, lesson_html, lesson_plan

METHODS = ("grad_cam", "saliency")  # fast: the lesson runs three explanations (why X and not Y, each alone)


def plan(entry: ModelEntry, entries: list[ModelEntry]) -> dict[str, ModelEntry]:
    """view -> the model that draws it (``entry`` first, then same-protocol models, then the rest)."""
    others = sorted((e for e in entries if e.name != entry.name), key=lambda e: e.protocol != entry.protocol)
    ordered = [entry, *others]
    chosen = lesson_plan([(e.name, e.attention_kinds) for e in ordered])
    by_name = {e.name: e for e in ordered}
    return {view: by_name[name] for view, name in chosen.items()}


def view_titles() -> dict[str, str]:
    return {view: title for view, (_, title) in VIEWS.items()}


# Lessons by key, most recent last: a lesson is a few MiB, so only the last two are kept. Not
# st.cache_data: the inspections inside it show their own spinners, which a replay cannot redo.
_LESSONS: OrderedDict[tuple, str] = OrderedDict()
_MAX_LESSONS = 2
_LOCK = threading.Lock()


def _lesson(_clip: Clip, _entries: tuple[ModelEntry, ...], method: str) -> str:
    inspections = []
    for e in _entries:
        try:
            inspections.append((e.name, state.inspection(e, _clip)))
        except ValueError:
            if e is _entries[0]:
                raise
    main = inspections[0][1]
    expls: list[ex.Explanation] = []
    for name in dict.fromkeys((method, "saliency")):
        try:
            runs = ex.contrast_runs(main.pred, main.label, ex.ExplainSettings(name))
            expls = [explaining.explanation(_entries[0], _clip, s) for s in runs]
            break
        except ValueError:  # Grad-CAM on a model without a feature map or a recurrent layer
            continue
    return lesson_html(_clip, inspections, expls)


def lesson(entry: ModelEntry, clip: Clip, chosen: dict[str, ModelEntry], method: str = "grad_cam") -> str:
    """The lesson's HTML: ``entry`` explained, and every view of ``chosen`` drawn."""
    entries = tuple(dict.fromkeys([entry, *chosen.values()]))
    models = tuple((str(e.checkpoint), state._stamp(e)) for e in entries)
    key = (models, source_key(state.clip_source()) + clip.name, method)
    with _LOCK:
        if key in _LESSONS:
            _LESSONS.move_to_end(key)
            return _LESSONS[key]
    page = _lesson(clip, entries, method)
    with _LOCK:
        _LESSONS[key] = page
        while len(_LESSONS) > _MAX_LESSONS:
            _LESSONS.popitem(last=False)
    return page
