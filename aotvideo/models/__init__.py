"""Stateless AOT / DeAOT networks, their variant registry and weight loading."""
from .config import ModelConfig, get_config, list_models
from .inference import fold_frozen_batch_norms, optimize_for_inference
from .model import AOTModel
from .propagation import MemoryEntry, PropagationOutput
from .registry import build_model
from .weights import load_weights, matching_variants, read_checkpoint, save_weights

__all__ = ["AOTModel", "MemoryEntry", "ModelConfig", "PropagationOutput", "build_model", "fold_frozen_batch_norms", "optimize_for_inference",
           "get_config", "list_models", "load_weights", "matching_variants", "read_checkpoint",
           "save_weights"]
