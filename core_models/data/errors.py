"""The one error type every reader raises for malformed input.

A reader that meets a file it cannot trust never returns partial or silently wrong data and never
lets an ``IndexError`` or ``ValueError`` from parsing escape: it raises :class:`DataFormatError`,
whose message names the file, where in it the problem is (line, frame, key) and what was expected.
"""

from __future__ import annotations

from pathlib import Path


class DataFormatError(ValueError):
    """A dataset file or folder does not match its documented format.

    Attributes:
        path: the offending file or folder.
        where: the position inside it ("line 12", "frame 3, body 1", "key 'frames'"), or "".
        problem: what was found.
        expected: what the format requires.
    """

    def __init__(self, path: str | Path, problem: str, *, where: str = "", expected: str = ""):
        self.path = Path(path)
        self.where = where
        self.problem = problem
        self.expected = expected
        parts = [str(self.path)]
        if where:
            parts.append(where)
        message = ": ".join(parts) + f": {problem}"
        if expected:
            message += f" (expected {expected})"
        super().__init__(message)
