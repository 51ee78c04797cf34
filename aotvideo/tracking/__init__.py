"""Per-video tracking sessions over the stateless models."""
from .memory import GroupMemory
from .preprocess import network_input_size, normalize_frame
from .tracker import DEFAULT_MAX_LONG_TERM, Tracker, TrackResult

__all__ = ["DEFAULT_MAX_LONG_TERM", "GroupMemory", "TrackResult", "Tracker",
           "network_input_size", "normalize_frame"]
