"""The training forward pass over a batch of clips, composed from the model's steps.

For each clip: all frames through the encoder at once; the reference frame attends to itself
with its ground-truth identities (its decoded output gives the auxiliary loss); then every
following frame is matched against long-term memory (the reference frame, plus every
``long_term_gap``-th frame) and short-term memory (the previous frame), decoded and scored,
and becomes the next short-term memory with its ground-truth mask -- or, in sequential training,
with the network's own prediction.  Identity slots are shuffled per clip.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..models.model import AOTModel
from ..models.propagation import MemoryEntry
from .losses import frame_loss, object_iou

UNUSED_LOGIT = -1e10


class ClipEngine(nn.Module):
    """Wraps an :class:`AOTModel` with the training forward (what DDP wraps).

    Args:
        model: the network (its train/eval mode is the caller's).
        long_term_gap: frames between long-term memory writes.
    """

    def __init__(self, model: AOTModel, long_term_gap: int) -> None:
        super().__init__()
        self.model = model
        self.long_term_gap = long_term_gap

    def forward(self, frames: torch.Tensor, labels: torch.Tensor, num_objects: torch.Tensor,
                id_perm: torch.Tensor, *, hard_fraction: float, aux_weight: float,
                use_predictions: bool) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Loss of a batch of clips.

        Args:
            frames: (B, T, 3, H, W) normalised frames.
            labels: (B, T, H, W) int64 object ids 0..num_objects.
            num_objects: (B,) objects per clip.
            id_perm: (B, S + 1) identity slot of each object id (S = identity slots).
            hard_fraction: pixel fraction of the bootstrapped cross-entropy.
            aux_weight: weight of the reference frame's loss.
            use_predictions: write short-term memory from predictions, identities frozen.

        Returns:
            the scalar loss (mean over clips) and detached statistics: ``ref_loss`` (B,),
            ``frame_loss`` (T-1, B) and ``iou`` (T-1, B).
        """
        model = self.model
        batch, length = frames.shape[:2]
        height, width = frames.shape[-2:]
        slots = model.config.max_objects + 1
        encoded = model.encode_image(frames.transpose(0, 1).reshape(batch * length, 3, height,
                                                                    width))
        features = [[f[t * batch:(t + 1) * batch] for f in encoded] for t in range(length)]
        h16, w16 = encoded[-1].shape[-2:]
        pos_emb = model.position_embedding(h16, w16, frames.device)
        shuffled = torch.gather(id_perm, 1, labels.reshape(batch, -1)).view_as(labels)
        unused = (torch.arange(slots, device=frames.device)[None] > num_objects[:, None])
        unused = unused[:, :, None, None]

        def identities(slot_labels: torch.Tensor) -> torch.Tensor:
            one_hot = F.one_hot(slot_labels, slots).permute(0, 3, 1, 2).float()
            emb = model.identity_embedding(one_hot)
            return emb.detach() if use_predictions else emb

        def logits_of(embeddings: list[torch.Tensor], feats: list[torch.Tensor]) -> torch.Tensor:
            logits = model.decode(embeddings, feats).float()
            index = id_perm[:, :, None, None].expand(-1, -1, *logits.shape[-2:])
            logits = torch.gather(logits, 1, index).masked_fill(unused, UNUSED_LOGIT)
            return F.interpolate(logits, size=(height, width), mode="bilinear",
                                 align_corners=model.config.align_corners)

        # reference frame: attends to itself with its own identities
        out = model.propagate(features[0], None, None, id_emb=identities(shuffled[:, 0]),
                              pos_emb=pos_emb)
        assert out.fused is not None
        long_term: list[MemoryEntry] = out.fused
        short_term: list[MemoryEntry] = out.fused
        with torch.set_grad_enabled(torch.is_grad_enabled() and aux_weight > 0):
            ref_logits = logits_of(out.embeddings, features[0])
            ref_loss = frame_loss(ref_logits, labels[:, 0], num_objects, hard_fraction)

        losses, ious = [], []
        last_long = 0
        for t in range(1, length):
            out = model.propagate(features[t], long_term, short_term, pos_emb=pos_emb)
            logits = logits_of(out.embeddings, features[t])
            losses.append(frame_loss(logits, labels[:, t], num_objects, hard_fraction))
            pred = logits.detach().argmax(dim=1)
            ious.append(object_iou(pred, labels[:, t], num_objects))
            if t == length - 1:
                break
            if use_predictions:
                memory_labels = torch.gather(id_perm, 1, pred.reshape(batch, -1)).view_as(pred)
            else:
                memory_labels = shuffled[:, t]
            short_term = model.fuse_memory(out.current, identities(memory_labels))
            if t - last_long >= self.long_term_gap:
                long_term = [MemoryEntry.concat([old, new])
                             for old, new in zip(long_term, short_term)]
                last_long = t

        frame_losses = torch.stack(losses)
        loss = frame_losses.mean()
        if aux_weight > 0:
            loss = loss + aux_weight * ref_loss.mean()
        stats = {"ref_loss": ref_loss.detach(), "frame_loss": frame_losses.detach(),
                 "iou": torch.stack(ious)}
        return loss, stats
