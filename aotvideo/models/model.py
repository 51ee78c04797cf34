"""The AOT / DeAOT network: stateless, weights only.

Everything that belongs to one video (memories, object ids, frame counters) lives in
:class:`aotvideo.tracking.Tracker`; one model can serve many trackers.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import ModelConfig
from .decoder import FPNSegmentationHead
from .encoders import build_encoder
from .layers import map_to_seq, seq_to_map, sine_position_embedding
from .propagation import DualBranchGPM, LongShortTermTransformer, MemoryEntry, PropagationOutput


class AOTModel(nn.Module):
    """Associating Objects with Transformers (AOT) and its decoupled successor DeAOT.

    Submodule names equal the original implementation's, so model-zoo checkpoints load as is:
    ``encoder``, ``encoder_projector``, ``LSTT``, ``decoder``, ``patch_wise_id_bank`` and, for
    DeAOT, ``id_norm``.

    The forward pass of a frame is split in the steps the tracker composes:
    :meth:`encode_image` -> :meth:`propagate` -> :meth:`decode`, plus :meth:`identity_embedding`
    and :meth:`fuse_memory` to turn a (predicted) mask into memory.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        # the network input the loaded weights prefer (see aotvideo.models.weights.INPUT_KEY)
        self.preferred_input: dict[str, int | None] = {}
        dim = config.embedding_dim
        ids = config.max_objects + 1
        self.encoder = build_encoder(config.encoder, frozen_bn=True)
        self.encoder_projector = nn.Conv2d(config.encoder_dims[-1], dim, kernel_size=1)
        if config.architecture == "aot":
            self.LSTT: nn.Module = LongShortTermTransformer(
                config.num_layers, dim, config.self_heads, config.attention_heads,
                config.feedforward_dim, intermediate_norm=config.decode_intermediate,
                max_dis=config.window_radius)
            decoder_in = dim * (config.num_layers + 1) if config.decode_intermediate else dim
        else:
            self.LSTT = DualBranchGPM(
                config.num_layers, dim, config.self_heads, config.attention_heads,
                intermediate_norm=config.decode_intermediate, max_dis=config.window_radius)
            decoder_in = dim * (config.num_layers * 2 + 1) if config.decode_intermediate \
                else dim * 2
        self.decoder = FPNSegmentationHead(decoder_in, ids, config.decode_intermediate, dim,
                                           config.encoder_dims, config.align_corners)
        if config.align_corners:
            self.patch_wise_id_bank = nn.Conv2d(ids, dim, kernel_size=17, stride=16, padding=8)
        else:
            self.patch_wise_id_bank = nn.Conv2d(ids, dim, kernel_size=16, stride=16, padding=0)
        self.id_dropout = nn.Dropout(0.0)
        if config.architecture == "deaot":
            self.id_norm = nn.LayerNorm(dim)
        self._init_weights()
        self.eval()

    def _init_weights(self) -> None:
        """Initialisation of the original code for training from scratch."""
        nn.init.xavier_uniform_(self.encoder_projector.weight)
        kernel = self.patch_wise_id_bank.kernel_size[0]
        nn.init.orthogonal_(self.patch_wise_id_bank.weight.view(self.config.embedding_dim, -1),
                            gain=kernel ** -2)
        for module in (self.LSTT, self.decoder):
            for p in module.parameters():
                if p.dim() > 1:
                    nn.init.xavier_uniform_(p)

    @property
    def is_deaot(self) -> bool:
        return self.config.architecture == "deaot"

    def encode_image(self, image: torch.Tensor) -> list[torch.Tensor]:
        """Encoder features of a normalised image batch.

        Args:
            image: (B, 3, H, W), ImageNet-normalised RGB.

        Returns:
            [4x (B, C0, H/4, W/4), 8x, 16x, 16x projected to (B, 256, H/16, W/16)].
        """
        features = list(self.encoder(image))
        features[-1] = self.encoder_projector(features[-1])
        return features

    def identity_embedding(self, one_hot: torch.Tensor) -> torch.Tensor:
        """Identity embedding of a one-hot mask.

        Args:
            one_hot: (B, max_objects + 1, H, W) at the network input size; channel 0 background.

        Returns:
            (h*w, B, 256) at stride 16.
        """
        bank = self.patch_wise_id_bank
        if one_hot.shape[0] != 1 or (torch.is_grad_enabled() and one_hot.requires_grad):
            return self._finish_identity(bank(one_hot))
        # Channels that are zero everywhere add exactly nothing: convolve only the identities
        # present (background and the tracked objects), a fraction of the 11 channels.
        present = one_hot[0].flatten(1).amax(1).nonzero().flatten()
        return self._present_identities(one_hot[:, present], present)

    def identity_embedding_of_labels(self, labels: torch.Tensor) -> torch.Tensor:
        """:meth:`identity_embedding` of the one-hot of an (H, W) label map with values in
        ``0 .. max_objects``, built for the identities present only -> (h*w, 1, 256)."""
        counts = torch.bincount(labels.flatten(), minlength=self.config.max_objects + 1)
        present = counts.nonzero().flatten()
        one_hot = (labels.unsqueeze(0) == present.view(-1, 1, 1)).unsqueeze(0)
        return self._present_identities(one_hot.to(self.patch_wise_id_bank.weight.dtype),
                                        present)

    def _present_identities(self, channels: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        """Identity bank applied to the one-hot ``channels`` (1, P, H, W) of ids ``present``."""
        bank = self.patch_wise_id_bank
        emb = F.conv2d(channels, bank.weight[:, present], bank.bias, bank.stride, bank.padding)
        return self._finish_identity(emb)

    def _finish_identity(self, emb: torch.Tensor) -> torch.Tensor:
        """(B, 256, h, w) bank output -> normalised (DeAOT) sequence (h*w, B, 256)."""
        if self.is_deaot:
            emb = self.id_norm(emb.permute(2, 3, 0, 1)).permute(2, 3, 0, 1)
        emb = self.id_dropout(emb)
        return map_to_seq(emb)

    def position_embedding(self, height: int, width: int,
                           device: torch.device | None = None) -> torch.Tensor:
        """(h*w, 1, 256) sine embedding for a stride-16 grid of ``height`` x ``width``."""
        pos = sine_position_embedding(height, width, self.config.embedding_dim, device=device)
        return map_to_seq(pos.unsqueeze(0))

    def propagate(self, features: list[torch.Tensor], long_term: list[MemoryEntry] | None,
                  short_term: list[MemoryEntry] | None, id_emb: torch.Tensor | None = None,
                  pos_emb: torch.Tensor | None = None) -> PropagationOutput:
        """Match the frame against memory and propagate identities.

        Args:
            features: :meth:`encode_image` output with batch B (identity groups).
            long_term / short_term: per layer, memory entries with batch B; ``None`` for a
                reference frame (then ``id_emb`` is required and the frame attends to itself).
            id_emb: (h*w, B, 256) identity embedding of the frame's own mask, for reference
                frames.
            pos_emb: (h*w, 1, 256) from :meth:`position_embedding`.
        """
        top = features[-1]
        size_2d = (top.shape[-2], top.shape[-1])
        return self.LSTT(map_to_seq(top), long_term, short_term, id_emb, pos_emb, size_2d)

    def fuse_memory(self, current: list[MemoryEntry], id_emb: torch.Tensor) -> list[MemoryEntry]:
        """Per layer, the memory entry of a frame from its :attr:`PropagationOutput.current`
        features and the identity embedding of its mask."""
        return [layer.fuse(entry, id_emb) for layer, entry in zip(self.LSTT.layers, current)]

    def decode(self, embeddings: list[torch.Tensor], features: list[torch.Tensor]) -> torch.Tensor:
        """Identity logits (B, max_objects + 1, H/4, W/4) at stride 4."""
        top = features[-1]
        size_2d = (top.shape[-2], top.shape[-1])
        inputs = [top] + [seq_to_map(e, size_2d) for e in embeddings]
        return self.decoder(inputs, features)
