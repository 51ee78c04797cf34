"""aotvideo: video object segmentation with AOT and DeAOT, as a tool.

Public API::

    import aotvideo
    aotvideo.list_models()                     # the 14 model-zoo variants
    model = aotvideo.load_model()              # the packaged default model (deaott)
    model = aotvideo.build_model("deaott")     # or any variant: stateless network, eval mode
    aotvideo.load_weights(model, "DeAOTT_PRE_YTB_DAV.pth")
    tracker = aotvideo.Tracker(model)          # one per video
    result = tracker.step(frame, mask=first_mask)
"""
from .errors import (AotVideoError, FrameError, MaskError, MediaError, ModelNotFoundError,
                     WeightsError)
from .models import build_model, list_models, load_weights, save_weights
from .tracking import Tracker, TrackResult
from .tracking.builder import TrackerSpec, build_tracker
from .zoo import load_model

__version__ = "0.1.0"

__all__ = ["AotVideoError", "FrameError", "MaskError", "MediaError", "ModelNotFoundError",
           "TrackResult", "Tracker", "TrackerSpec", "WeightsError", "__version__", "build_model",
           "build_tracker", "list_models", "load_model", "load_weights", "save_weights"]
