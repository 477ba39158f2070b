"""Data: skeleton layouts, the Clip container, dataset readers, sampling, crops and Datasets.

``READERS`` maps the ``--data`` names of the command line to a function that opens a root.
"""

from __future__ import annotations

from pathlib import Path

from core_models.data.base import DatasetReader


def _ntu(root, **kw):
    from core_models.data.ntu import NTUReader

    return NTUReader(root, **kw)


def _synth(root, **kw):
    from core_models.synth import synth_reader

    return synth_reader(root, **kw)


def _nucla(root, **kw):
    from core_models.data.nucla import NUCLAReader

    return NUCLAReader(root, **kw)


def _smarthome(root, **kw):
    from core_models.data.smarthome import SmarthomeReader

    return SmarthomeReader(root, **kw)


def _ucf101(root, **kw):
    from core_models.data.ucf101 import UCF101Reader

    return UCF101Reader(root, **kw)


READERS = {
    "synth": _synth,
    "ntu": _ntu,
    "nucla": _nucla,
    "smarthome": _smarthome,
    "ucf101": _ucf101,
}


def open_reader(kind: str, root: str | Path, **kwargs) -> DatasetReader:
    """Open a dataset root with the reader named ``kind`` (a key of ``READERS``)."""
    if kind not in READERS:
        raise ValueError(f"unknown dataset {kind!r}; choose one of {', '.join(READERS)}")
    return READERS[kind](root, **kwargs)
