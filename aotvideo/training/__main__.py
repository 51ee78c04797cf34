"""``python -m aotvideo.training``: the ``train`` command group on its own."""
from aotvideo.training.cli import main

if __name__ == "__main__":
    main()
