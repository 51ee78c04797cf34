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

COCO128_HOLDOUT: tuple[str, ...] = (
    "000000000009", "000000000049", "000000000073", "000000000089", "000000000127",
    "000000000143", "000000000165", "000000000201", "000000000257", "000000000294",
    "000000000312", "000000000328", "000000000359", "000000000389", "000000000400",
    "000000000431", "000000000446", "000000000486", "000000000510", "000000000542",
    "000000000564", "000000000599", "000000000623", "000000000650",
)
"""COCO128 images kept out of training: every fourth (in name order) of the 93 with two or more
instances of at least 1,500 pixels.  They make the clips of the multi-object validation
(``samples/evaluate_multi_object.py``): their instances, animated independently, cross and
occlude each other over backgrounds that are also held-out images."""

ECSSD_HOLDOUT: tuple[str, ...] = tuple(f"{i:04d}" for i in range(10, 1001, 10))
"""ECSSD images kept out of training (every tenth: 0010, 0020, ... 1000): single-object clips of
the validation."""

STATIC_HOLDOUT: tuple[str, ...] = COCO128_HOLDOUT + ECSSD_HOLDOUT
"""Every held-out still image (names do not collide between the two sets); the value of
``--set data.exclude_images=...`` for runs measured on the validation."""

__all__ = ["COCO128_HOLDOUT", "DAVIS2016_HOLDOUT", "ECSSD_HOLDOUT", "STATIC_HOLDOUT"]
