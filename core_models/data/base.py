"""What every dataset reader shares: listing clips, protocol subsets, and an account of skips.

A reader lists a dataset root into :class:`~core_models.data.clip.ClipRef` handles without
decoding anything, assigns each clip to a side of a protocol (train, val, test), and loads one
clip into a :class:`~core_models.data.clip.Clip`. What it skipped while listing (a published bad
sample, a file with no partner, a class outside the protocol) is counted by reason, so that a
user always sees how many clips were left out and why.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from core_models.data.clip import Clip, ClipRef
from core_models.data.errors import DataFormatError
from core_models.data.layouts import SkeletonLayout

SUBSETS = ("train", "val", "test", "trainval", "all")


class DatasetReader:
    """Base of the dataset readers; subclasses implement ``_scan``, ``side`` and ``load``.

    Attributes:
        name: short dataset id used on the command line (``"ntu"``).
        layout: the skeleton layout of the format.
        metric: ``"top1"`` or ``"mean_class"`` (Toyota Smarthome's mean per-class accuracy).
        protocols: protocol names accepted by :meth:`split`.
        classes: class names, index = label.
        skipped: clips left out while listing, counted by reason.
    """

    name = "dataset"
    layout: SkeletonLayout
    metric = "top1"
    protocols: tuple[str, ...] = ()

    def __init__(self, root: str | Path):
        self.root = Path(root)
        if not self.root.is_dir():
            raise DataFormatError(self.root, "dataset root is not a folder", expected="a folder")
        self.classes: tuple[str, ...] = ()
        self.skipped: Counter[str] = Counter()
        self._clips: list[ClipRef] | None = None

    # -- listing -----------------------------------------------------------------------------
    def _scan(self) -> list[ClipRef]:
        raise NotImplementedError

    def list_clips(self) -> list[ClipRef]:
        """Every usable clip under the root, sorted by name (listed once, then cached)."""
        if self._clips is None:
            self.skipped.clear()
            self._clips = sorted(self._scan(), key=lambda r: r.name)
        return list(self._clips)

    def summary(self) -> str:
        """One line: how many clips were found and how many were skipped, by reason."""
        clips = self.list_clips()
        text = f"{self.name}: {len(clips)} clips, {len(self.classes)} classes under {self.root}"
        if self.skipped:
            reasons = ", ".join(f"{n} {why}" for why, n in sorted(self.skipped.items()))
            text += f"; skipped {sum(self.skipped.values())} ({reasons})"
        return text

    # -- protocols ---------------------------------------------------------------------------
    def side(self, ref: ClipRef, protocol: str) -> str | None:
        """``"train"``, ``"val"``, ``"test"`` or ``None`` (not part of this protocol)."""
        raise NotImplementedError

    def check_protocol(self, protocol: str) -> str:
        protocol = protocol.lower()
        if protocol not in self.protocols:
            raise ValueError(
                f"{self.name} has no protocol {protocol!r}; choose one of {', '.join(self.protocols)}"
            )
        return protocol

    def split(self, protocol: str, subset: str = "train") -> list[ClipRef]:
        """The clips of one subset of a protocol.

        Args:
            protocol: one of :attr:`protocols`.
            subset: ``train`` (training side without validation), ``val``, ``test``, ``trainval``
                (the whole training side) or ``all`` (every clip the protocol uses).
        """
        protocol = self.check_protocol(protocol)
        if subset not in SUBSETS:
            raise ValueError(f"subset must be one of {SUBSETS}, got {subset!r}")
        wanted = {
            "train": {"train"},
            "val": {"val"},
            "test": {"test"},
            "trainval": {"train", "val"},
            "all": {"train", "val", "test"},
        }[subset]
        return [r for r in self.list_clips() if self.side(r, protocol) in wanted]

    def num_classes(self, protocol: str | None = None) -> int:
        return len(self.classes_for(protocol))

    def classes_for(self, protocol: str | None = None) -> tuple[str, ...]:
        """Class names of a protocol (a few protocols use a subset of the classes)."""
        return self.classes

    def label_for(self, ref: ClipRef, protocol: str | None = None) -> int:
        """The label of a clip in a protocol's class list (the same as ``ref.label`` by default)."""
        return ref.label

    # -- loading -----------------------------------------------------------------------------
    def load(self, ref: ClipRef, *, with_video: bool = True, max_side: int | None = None) -> Clip:
        """Read one clip.

        Args:
            ref: a clip listed by this reader.
            with_video: decode the RGB frames (skeleton-only reads are much faster).
            max_side: shrink frames (and 2D joints with them) so the longer side is at most this.
        """
        raise NotImplementedError

    def find(self, name: str) -> ClipRef:
        """The listed clip with this sample name."""
        for r in self.list_clips():
            if r.name == name:
                return r
        raise KeyError(f"no clip named {name!r} under {self.root}")
