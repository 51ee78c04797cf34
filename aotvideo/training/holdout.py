"""The project's own validation videos: DAVIS 2016 train sequences kept out of training.

The DAVIS 2016 val sequences are the benchmark nobody tunes to, so settings (encoder start,
stream mix, crop size, clip length, inference size) are compared on six of the 30 *train*
sequences instead, which training runs that choose settings never see
(``--set data.exclude_videos=...``, or :data:`DAVIS2016_HOLDOUT` in code).

Chosen to cover what the benchmark's videos ask of a tracker, one sequence each:

* ``bmx-bumps``: a thin rider and bike that leave the picture and come back (empty masks);
* ``dance-jump``: a person changing shape fast (articulated motion, motion blur);
* ``dog-agility``: a fast animal passing behind the bars of a jump (occlusion);
* ``drift-turn``: a car in its own smoke (appearance change, large motion);
* ``horsejump-low``: horse and rider as one object (two parts, different colours);
* ``soccerball``: a tiny object (a few hundred pixels at 480p).

The model that ships is then trained on all 30 sequences; figures measured on these six are
only honest for runs that excluded them (the model card says which).
"""
from __future__ import annotations

DAVIS2016_HOLDOUT: tuple[str, ...] = ("bmx-bumps", "dance-jump", "dog-agility", "drift-turn",
                                      "horsejump-low", "soccerball")
"""Held-out DAVIS 2016 train sequences (see the module's docstring for why these)."""

__all__ = ["DAVIS2016_HOLDOUT"]
