"""``python -m aotvideo.evaluation``: the ``eval`` command group on its own."""
from aotvideo.evaluation.cli import eval_group

if __name__ == "__main__":
    eval_group(prog_name="aotvideo eval")
