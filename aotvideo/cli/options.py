"""Option types and parsers that several sub-commands share (one rule for each value)."""
from __future__ import annotations

from typing import Any

import click

__all__ = ["ObjectsPerGroup", "parse_ids", "parse_scales"]


class ObjectsPerGroup(click.ParamType):
    """``--objects-per-group``: ``auto`` or a number from 1 to 10."""

    name = "objects_per_group"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> int | str:
        from ..tracking.builder import parse_objects_per_group

        try:
            return parse_objects_per_group(value)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


def parse_scales(text: str, hint: str = "--scales") -> tuple[float, ...]:
    """``--scales 1.0,1.3`` -> ``(1.0, 1.3)``: test-time scales, positive numbers."""
    try:
        scales = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise click.BadParameter(f"expected numbers like 1.0,1.3 - got {text!r}", param_hint=hint) from None
    if not scales or any(s <= 0 for s in scales):
        raise click.BadParameter("scales are positive numbers, e.g. 1.0 or 1.0,1.3", param_hint=hint)
    return scales


def parse_ids(text: str | None) -> list[int] | None:
    """``--objects 1,3`` -> ``[1, 3]`` (``None`` when not given)."""
    if text is None:
        return None
    try:
        ids = [int(part) for part in text.replace(" ", "").split(",") if part]
    except ValueError:
        raise click.BadParameter(f"expected ids like 1,3 - got {text!r}", param_hint="--objects") from None
    if not ids or any(i <= 0 for i in ids):
        raise click.BadParameter("object ids are positive integers, e.g. 1,3", param_hint="--objects")
    return ids
