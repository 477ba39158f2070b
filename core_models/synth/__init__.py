"""The built-in synthetic dataset (DESIGN §5), written in the NTU RGB+D on-disk format.

* :func:`render_clip` performs and renders one clip from its NTU sample name.
* :func:`write_dataset` writes ``.skeleton`` + ``_rgb.avi`` + ``.truth.json`` per clip.
* :func:`synth_reader` reads it back with the NTU reader (CS and CV protocols unchanged).
* :func:`run_probe` checks that time matters: single-frame models fail on the opposite pairs.

Modules: ``body`` (subjects, kinematic body), ``actions`` (motion programs, objects, ground truth),
``render`` (cameras, room, rasteriser), ``generate`` (clips, writer), ``probe`` (the experiment).
"""

from core_models.synth.actions import OPPOSITE_PAIRS, SYNTH_ACTIONS
from core_models.synth.generate import (
    SYNTH_CAMERAS,
    SYNTH_CLASSES,
    SYNTH_SUBJECTS,
    list_names,
    render_clip,
    setup_for,
    synth_reader,
    write_dataset,
)
from core_models.synth.probe import format_probe, run_probe

__all__ = [
    "OPPOSITE_PAIRS",
    "SYNTH_ACTIONS",
    "SYNTH_CAMERAS",
    "SYNTH_CLASSES",
    "SYNTH_SUBJECTS",
    "format_probe",
    "list_names",
    "render_clip",
    "run_probe",
    "setup_for",
    "synth_reader",
    "write_dataset",
]
