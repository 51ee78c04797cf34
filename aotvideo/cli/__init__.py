"""The ``aotvideo`` command line: one module per sub-command.

``app`` (the group), ``track``, ``batch``, ``mask``, ``frame``, ``weights``, ``evaluate``
(``eval``), ``train``, ``bench``, ``gst`` (``gst-path``); ``exits`` (the exit codes and the
error -> exit code table), ``memory`` (the allocator settings a run wants), ``console``
(messages, progress, reports, interrupts) and ``options`` (option types the sub-commands share).
Only this package prints and exits.
"""
from __future__ import annotations

from .app import main

__all__ = ["main"]
