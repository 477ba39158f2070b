"""The RGB clip a model reads: the whole frame, or the person-centred full-body crop.

In daily-living video the person is small in the frame (Toyota Smarthome's wide-angle cameras,
the synthetic set's far cameras: about 15 to 20 pixels tall in a 64 x 64 frame), so the
pose-driven models of this family read the clip cropped around the person: the ``full_body``
part box of ``core_models.data.crops``, which follows the 2D skeleton frame by frame. With
``person_crop=False`` a model reads the whole frame (``rgb``) instead.
"""

from __future__ import annotations

import torch

from core_models.data.crops import CropSpec
from core_models.data.datasets import InputSpec

PERSON_PART = "full_body"


def clip_spec(num_frames: int, frame_size: int, person_crop: bool, **kw) -> InputSpec:
    """The InputSpec of a clip of ``num_frames`` squares of ``frame_size`` (plus ``kw``)."""
    crops = CropSpec(parts=(PERSON_PART,), size=frame_size) if person_crop else None
    return InputSpec(num_frames=num_frames, frame_size=frame_size, crops=crops, **kw)


def clip_key(person_crop: bool) -> str:
    """The batch key holding the clip."""
    return "crops" if person_crop else "rgb"


def read_clip(batch: dict[str, torch.Tensor], person_crop: bool) -> torch.Tensor:
    """The clip as (B, 3, T, S, S) in [-1, 1]."""
    key = clip_key(person_crop)
    if key not in batch:
        what = f"the {PERSON_PART} crop" if person_crop else "whole frames"
        raise ValueError(f"this model reads {what} (batch key {key!r}); the batch has {sorted(batch)}")
    if person_crop:
        crops = batch["crops"]
        if crops.dim() != 6 or crops.shape[1] != 1 or crops.shape[2] != 3:
            raise ValueError(
                f"crops must be (B, 1, 3, T, S, S), the {PERSON_PART} crop; got {tuple(crops.shape)}"
            )
        return crops[:, 0]
    rgb = batch["rgb"]
    if rgb.dim() != 5 or rgb.shape[1] != 3:
        raise ValueError(f"rgb must be (B, 3, T, S, S), got {tuple(rgb.shape)}")
    return rgb
