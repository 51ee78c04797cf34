"""Video and mask input/output: PyAV decoding and encoding in threads, mask images.

* :class:`VideoReader` decodes files, pipes and raw video into RGB frames with timestamps
  (or, asked to, into the decoder's own YUV planes, :class:`Yuv420Image`);
* :class:`VideoWriter` / :class:`PngSequenceWriter` encode the results, keeping timestamps,
  rotation and audio; :func:`resolve_output` picks container, codec and pixel format;
* :func:`read_mask` reads palette, grayscale and colour mask images; :func:`write_palette_png`
  writes DAVIS-style palette PNGs.
"""
from __future__ import annotations

from .formats import MODES, OutputSpec, default_output_path, resolve_output
from .masks import davis_palette, mask_ids, read_mask, select_objects, write_palette_png
from .reader import AudioChunk, AudioInfo, Frame, VideoInfo, VideoReader, parse_size
from .writer import PngSequenceWriter, VideoWriter, WriterThread, open_writer
from .yuv import Yuv420Image

__all__ = [
    "MODES",
    "AudioChunk",
    "AudioInfo",
    "Frame",
    "OutputSpec",
    "PngSequenceWriter",
    "VideoInfo",
    "VideoReader",
    "VideoWriter",
    "WriterThread",
    "Yuv420Image",
    "davis_palette",
    "default_output_path",
    "mask_ids",
    "open_writer",
    "parse_size",
    "read_mask",
    "resolve_output",
    "select_objects",
    "write_palette_png",
]
