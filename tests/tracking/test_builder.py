"""One builder for every entry point: TrackerSpec -> Tracker over one shared optimised model."""
from __future__ import annotations

import dataclasses

import pytest

import aotvideo
from aotvideo.tracking.builder import (TrackerSpec, build_tracker, parse_objects_per_group,
                                       shared_model)


@pytest.fixture
def weights(tmp_path, deaott_model):
    path = tmp_path / "w.pth"
    aotvideo.save_weights(deaott_model, path)
    return path


def test_trackers_of_one_model_share_its_optimised_copy(weights):
    spec = TrackerSpec(model="deaott", weights=str(weights), device="cpu", amp=False)
    first = build_tracker(spec)
    other = build_tracker(dataclasses.replace(spec, flip=True, objects_per_group=1))
    assert first is not other and first.model is other.model
    assert getattr(first.model, "inference_optimized", False)
    assert other.flip and other.objects_per_group == 1 and first.objects_per_group == 10
    assert shared_model("deaott", weights, first.device) is first.model


def test_spec_options_reach_the_tracker(weights):
    tracker = build_tracker(TrackerSpec(model="deaott", weights=str(weights), device="cpu",
                                        amp=False, max_long_term=3, long_term_gap=4,
                                        max_short_edge=64, min_short_edge=32,
                                        scales=(1.0, 1.3)))
    assert (tracker.max_long_term, tracker.long_term_gap, tracker.max_short_edge) == (3, 4, 64)
    assert tracker.min_short_edge == 32
    assert tracker.scales == (1.0, 1.3) and tracker.precision == "float32"
    assert str(TrackerSpec(device="cpu").on("cuda:1").device) == "cuda:1"


def test_bad_weights_and_options_raise_typed_errors(tmp_path, weights):
    with pytest.raises(aotvideo.WeightsError):
        build_tracker(TrackerSpec(model="deaott", weights=str(tmp_path / "missing.pth"),
                                  device="cpu"))
    with pytest.raises(aotvideo.WeightsError, match="weights:"):
        build_tracker(TrackerSpec(model="aott", weights=str(weights), device="cpu"))
    with pytest.raises(ValueError, match="objects_per_group"):
        build_tracker(TrackerSpec(model="deaott", weights=str(weights), device="cpu",
                                  objects_per_group=12))


@pytest.mark.parametrize("text,value", [("auto", "auto"), (" AUTO ", "auto"), ("1", 1),
                                        ("10", 10), (3, 3)])
def test_objects_per_group_words(text, value):
    assert parse_objects_per_group(text) == value


@pytest.mark.parametrize("text", ["0", "11", "one", ""])
def test_objects_per_group_bad_words(text):
    with pytest.raises(ValueError, match="from 1 to 10"):
        parse_objects_per_group(text)
