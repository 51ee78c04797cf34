"""The redrawn progress line that the command line's bars share (standard error only)."""
from __future__ import annotations

import sys


class RedrawnLine:
    """A line of standard error that a progress bar redraws in place (``\\r``).

    Subclasses build the text; :meth:`draw` writes it and :meth:`finish` ends the line before
    other text goes to standard error.
    """

    _drawn: bool = False

    def draw(self, text: str) -> None:
        """Write ``text`` (which starts with ``\\r`` to go back over the previous one)."""
        sys.stderr.write(text)
        sys.stderr.flush()
        self._drawn = True

    def finish(self) -> None:
        """End the redrawn line, if one is shown."""
        if self._drawn:
            sys.stderr.write("\n")
            sys.stderr.flush()
            self._drawn = False


def bar(share: float, width: int) -> str:
    """``[####------]``: ``share`` (0..1) of ``width`` cells filled."""
    filled = int(min(max(share, 0.0), 1.0) * width)
    return f"[{'#' * filled}{'-' * (width - filled)}]"
