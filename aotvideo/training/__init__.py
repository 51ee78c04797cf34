"""Training AOT / DeAOT models: the original two-stage recipe, on one device or many.

Quick use::

    from aotvideo.training import stage_config, train
    config = stage_config("synthetic", "deaott", total_steps=1000, batch_size=4)
    result = train(config)                      # or under torchrun, one call per process
    result.checkpoint                           # loads with aotvideo.load_weights

Command line: ``aotvideo train <stage> ...`` (``python -m aotvideo.training <stage> ...``).
"""
from .checkpoint import export_weights, latest_checkpoint, load_checkpoint
from .config import (DATASET_NAMES, STAGES, DataConfig, TrainConfig, apply_overrides,
                     config_from_dict, config_to_dict, stage_config)
from .datasets import (ClipDataset, DatasetError, DAVISSource, StaticImageSource,
                       StepBatchSampler, SyntheticSource, YouTubeVOSSource, build_sources)
from .synthetic import SyntheticSpec, render_video
from .trainer import TrainResult, build_training_model, train

__all__ = ["DATASET_NAMES", "STAGES", "ClipDataset", "DAVISSource", "DataConfig", "DatasetError",
           "StaticImageSource", "StepBatchSampler", "SyntheticSource", "SyntheticSpec",
           "TrainConfig", "TrainResult", "YouTubeVOSSource", "apply_overrides",
           "build_sources", "build_training_model", "config_from_dict", "config_to_dict",
           "export_weights", "latest_checkpoint", "load_checkpoint", "render_video",
           "stage_config", "train"]
