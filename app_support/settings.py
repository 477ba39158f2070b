"""Server settings for serving the app to others, read from the environment (README: "Serving it to others").

* ``ADL_DATA_ROOTS``: the folders a visitor may open as datasets, separated by ``os.pathsep``
  (``:`` on Linux). Default: the project's ``data/`` folder. A typed path is resolved (links
  followed, ``..`` removed; a relative one from the project folder) and must lie inside one of
  them; anything else is refused with the same words whether it exists or not.
* ``ADL_TRAINING``: ``off`` (or ``0``, ``false``, ``no``) removes the Train page and refuses to
  start training jobs; default on.

Both are read on every call, so a test (or an operator restarting the server) sets them without
touching code.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
DATA_ROOTS_VAR = "ADL_DATA_ROOTS"
TRAINING_VAR = "ADL_TRAINING"
_OFF = {"0", "off", "false", "no"}


def data_roots() -> tuple[Path, ...]:
    """The resolved folders under which dataset folders may be opened (default: ``PROJECT/data``)."""
    raw = os.environ.get(DATA_ROOTS_VAR)
    parts = [p for p in raw.split(os.pathsep) if p.strip()] if raw is not None else [str(PROJECT / "data")]
    return tuple(Path(p.strip()).expanduser().resolve() for p in parts)


def training_enabled() -> bool:
    """Whether the Train page is shown and training jobs may start (``ADL_TRAINING``; default on)."""
    return os.environ.get(TRAINING_VAR, "on").strip().lower() not in _OFF


def resolve_under_roots(typed: str | Path) -> Path | None:
    """The real path of ``typed`` when it lies inside a data root, else None.

    Relative paths start at the project folder (``data/synth`` works). Nothing is opened; the
    result may not exist. Symbolic links are followed first, so a link inside a root that points
    outside it is outside.
    """
    path = Path(typed).expanduser()
    if not path.is_absolute():
        path = PROJECT / path
    try:
        real = path.resolve()
    except (OSError, RuntimeError, ValueError):  # a link loop, a NUL byte
        return None
    for root in data_roots():
        if real == root or root in real.parents:
            return real
    return None
