"""Model builders, in the manner of torchvision's ``get_model``."""
from __future__ import annotations

from typing import Any

from .config import get_config
from .encoders import ENCODER_DIMS
from .model import AOTModel


def build_model(name: str, **overrides: Any) -> AOTModel:
    """Build the variant ``name`` (see :func:`aotvideo.list_models`), randomly initialised and
    in eval mode.

    Keyword overrides replace fields of its :class:`~aotvideo.models.config.ModelConfig`, e.g.
    ``build_model("deaott", encoder="mobilenetv3")`` (encoder channels follow the encoder
    unless given) or ``long_term_gap=2``.

    Raises:
        ModelNotFoundError: unknown ``name``.
    """
    if "encoder" in overrides and "encoder_dims" not in overrides:
        overrides["encoder_dims"] = ENCODER_DIMS[overrides["encoder"]]
    return AOTModel(get_config(name, **overrides))
