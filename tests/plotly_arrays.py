"""Reading arrays back out of a plotly figure's JSON, for tests that check a chart's data."""

from __future__ import annotations

import base64

import numpy as np


def array(value, dtype=None) -> np.ndarray:
    """A plotly JSON array: a list, or the typed array plotly 6 writes for numpy data
    (``{"dtype", "bdata", "shape"}``, the bytes base64-encoded). ``dtype`` converts a list."""
    if isinstance(value, dict) and "bdata" in value:
        flat = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
        return flat.reshape([int(n) for n in str(value["shape"]).split(",")]) if "shape" in value else flat
    return np.asarray(value, dtype=dtype)
