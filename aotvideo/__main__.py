"""``python -m aotvideo``: the same as the ``aotvideo`` command."""
from __future__ import annotations

from .cli import main

if __name__ == "__main__":
    main(prog_name="aotvideo")
