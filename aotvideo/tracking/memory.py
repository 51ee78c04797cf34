"""Bounded memory of one identity group in one test-time augmentation.

Long-term memory keeps the frames with user masks (reference frames) permanently -- at most
``1 + max_long_term`` of them: the first and the newest -- plus at most ``max_long_term`` of the
most recent frames written every ``long_term_gap`` frames.  The original implementation appends
without bound; with a cap the memory, and the cost of reading it, stop growing with the video.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from ..models.propagation import MemoryEntry

FrameMemory = list[MemoryEntry]
"""One frame's entries, one per propagation layer."""


@dataclass
class GroupMemory:
    """Memory of one identity group (up to 10 objects) for one augmentation.

    Attributes:
        max_long_term: cap on the recent long-term frames (``None``: unbounded, as the original).
        references: reference frames' entries, oldest first.
        recent: long-term frames' entries, oldest first.
        short_term: the previous frame's entries.
        last_write: frame index of the last long-term (or reference) write.
    """

    max_long_term: int | None
    references: list[FrameMemory] = field(default_factory=list)
    recent: deque[FrameMemory] = field(default_factory=deque)
    short_term: FrameMemory | None = None
    last_write: int = -1
    _long_term_cache: FrameMemory | None = None

    def add_reference(self, entries: FrameMemory, frame_index: int) -> None:
        """A frame whose mask is known: permanent long-term memory and short-term memory."""
        self.references.append(entries)
        if self.max_long_term is not None and len(self.references) > 1 + self.max_long_term:
            del self.references[1]
        self.short_term = entries
        self.last_write = frame_index
        self._long_term_cache = None

    def add_frame(self, entries: FrameMemory, frame_index: int, gap: int) -> None:
        """A tracked frame: always short-term; long-term when ``gap`` frames passed."""
        self.short_term = entries
        if frame_index - self.last_write >= gap:
            self.recent.append(entries)
            if self.max_long_term is not None:
                while len(self.recent) > self.max_long_term:
                    self.recent.popleft()
            self.last_write = frame_index
            self._long_term_cache = None

    @property
    def long_term(self) -> FrameMemory:
        """Per layer, all long-term frames concatenated (cached until the next write)."""
        if self._long_term_cache is None:
            frames = self.references + list(self.recent)
            self._long_term_cache = [MemoryEntry.concat([f[i] for f in frames])
                                     for i in range(len(frames[0]))]
        return self._long_term_cache

    @property
    def num_long_term_frames(self) -> int:
        return len(self.references) + len(self.recent)

    @property
    def nbytes(self) -> int:
        """Bytes held by the stored entries (the concatenation cache counted too)."""
        frames = self.references + list(self.recent)
        if self.short_term is not None:
            frames.append(self.short_term)
        total = sum(e.nbytes for f in frames for e in f)
        if self._long_term_cache is not None and self.num_long_term_frames > 1:
            total += sum(e.nbytes for e in self._long_term_cache)
        return total
