"""Variant configurations of the AOT / DeAOT model zoo.

Each published variant is a frozen :class:`ModelConfig`, registered by name.  The field names spell
out what the original code calls ``MODEL_*`` / ``TEST_*`` (given in each field's comment) so the two
can be compared line by line.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from ..errors import ModelNotFoundError

Architecture = Literal["aot", "deaot"]


@dataclass(frozen=True)
class ModelConfig:
    """Hyper-parameters of one AOT-series network (weights excluded).

    Attributes:
        name: registry name, e.g. ``"deaott"``.
        architecture: ``"aot"`` (LSTT blocks) or ``"deaot"`` (dual-branch gated propagation).
        encoder: image encoder name (``MODEL_ENCODER``).
        encoder_dims: channels of the encoder's 4x, 8x, 16x and deepest 16x features
            (``MODEL_ENCODER_DIM``).
        embedding_dim: width of the propagation module (``MODEL_ENCODER_EMBEDDING_DIM``).
        num_layers: number of LSTT / gated-propagation layers (``MODEL_LSTT_NUM``).
        self_heads: heads of the self-attention (``MODEL_SELF_HEADS``).
        attention_heads: heads of the long- and short-term attention (``MODEL_ATT_HEADS``).
        feedforward_dim: hidden width of the AOT feed-forward network.
        max_objects: identities per identity group (``MODEL_MAX_OBJ_NUM``).
        align_corners: ``MODEL_ALIGN_CORNERS``; also selects the 16k+1 input sizes and the 17x17
            identity bank (True) or 16k sizes and a 16x16 bank (False, Swin encoders).
        decode_intermediate: decoder reads every layer's output (``MODEL_DECODER_INTERMEDIATE_LSTT``).
        long_term_gap: frames between long-term memory writes (``TEST_LONG_TERM_MEM_GAP``).
        window_radius: short-term attention looks at a (2r+1)x(2r+1) window (``max_dis``).
        epsilon: ``MODEL_EPSILON``.
        paper_name: the model zoo's name, e.g. ``"R50-DeAOTL"``.
    """

    name: str
    architecture: Architecture
    encoder: str
    encoder_dims: tuple[int, int, int, int]
    num_layers: int
    self_heads: int
    attention_heads: int
    decode_intermediate: bool
    long_term_gap: int
    align_corners: bool = True
    embedding_dim: int = 256
    feedforward_dim: int = 1024
    max_objects: int = 10
    window_radius: int = 7
    epsilon: float = 1e-5
    paper_name: str = ""

    @property
    def window_size(self) -> int:
        """Side of the short-term attention window (15 for the published models)."""
        return 2 * self.window_radius + 1

    @property
    def stride_alignment(self) -> int:
        """1 when network input sides are 16k+1 (``align_corners``), 0 when they are 16k."""
        return 1 if self.align_corners else 0


_MOBILENET = ("mobilenetv2", (24, 32, 96, 1280))
_RESNET50 = ("resnet50", (256, 512, 1024, 1024))
_RESNET101 = ("resnet101", (256, 512, 1024, 1024))
_RESNEST101 = ("resnest101", (256, 512, 1024, 1024))
_SWIN_BASE = ("swin_base", (128, 256, 512, 512))


def _aot(name: str, paper: str, encoder: tuple[str, tuple[int, int, int, int]], layers: int,
         gap: int, **kw: object) -> ModelConfig:
    return ModelConfig(name=name, architecture="aot", encoder=encoder[0], encoder_dims=encoder[1],
                       num_layers=layers, self_heads=8, attention_heads=8,
                       decode_intermediate=True, long_term_gap=gap, paper_name=paper, **kw)


def _deaot(name: str, paper: str, encoder: tuple[str, tuple[int, int, int, int]], layers: int,
           gap: int, **kw: object) -> ModelConfig:
    return ModelConfig(name=name, architecture="deaot", encoder=encoder[0],
                       encoder_dims=encoder[1], num_layers=layers, self_heads=1,
                       attention_heads=1, decode_intermediate=False, long_term_gap=gap,
                       paper_name=paper, **kw)


_ZOO: tuple[ModelConfig, ...] = (
    _aot("aott", "AOTT", _MOBILENET, 1, 9999),
    _aot("aots", "AOTS", _MOBILENET, 2, 9999),
    _aot("aotb", "AOTB", _MOBILENET, 3, 9999),
    _aot("aotl", "AOTL", _MOBILENET, 3, 5),
    _aot("r50_aotl", "R50-AOTL", _RESNET50, 3, 5),
    _aot("r101_aotl", "R101-AOTL", _RESNET101, 3, 5),
    _aot("rs101_aotl", "ResNeSt101-AOTL", _RESNEST101, 3, 5),
    _aot("swinb_aotl", "SwinB-AOTL", _SWIN_BASE, 3, 5, align_corners=False),
    _deaot("deaott", "DeAOTT", _MOBILENET, 1, 9999),
    _deaot("deaots", "DeAOTS", _MOBILENET, 2, 9999),
    _deaot("deaotb", "DeAOTB", _MOBILENET, 3, 9999),
    _deaot("deaotl", "DeAOTL", _MOBILENET, 3, 5),
    _deaot("r50_deaotl", "R50-DeAOTL", _RESNET50, 3, 5),
    _deaot("swinb_deaotl", "SwinB-DeAOTL", _SWIN_BASE, 3, 5, align_corners=False),
)

_REGISTRY: dict[str, ModelConfig] = {c.name: c for c in _ZOO}


def list_models() -> list[str]:
    """Names of every registered variant, in model-zoo order."""
    return list(_REGISTRY)


def get_config(name: str, **overrides: object) -> ModelConfig:
    """The registered configuration of ``name``, optionally with fields replaced.

    Raises:
        ModelNotFoundError: ``name`` is not a registered variant.
    """
    try:
        config = _REGISTRY[name.lower()]
    except KeyError:
        raise ModelNotFoundError(
            f"unknown model {name!r}; choose one of: {', '.join(_REGISTRY)}") from None
    return replace(config, **overrides) if overrides else config  # type: ignore[arg-type]
