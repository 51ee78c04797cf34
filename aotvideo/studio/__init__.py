"""aotvideo studio: correct a track where it goes wrong, in a local web page, and export.

:class:`StudioSession` is the work (a video, its :class:`~aotvideo.io.workspace.Workspace`,
edits, propagation both ways, export); :class:`StudioServer` serves the page and its API over
it (``aotvideo studio VIDEO``).
"""
from __future__ import annotations

from .server import StudioServer, make_app
from .session import EventLog, JobStatus, StudioSession, default_workspace

__all__ = ["EventLog", "JobStatus", "StudioServer", "StudioSession", "default_workspace", "make_app"]
