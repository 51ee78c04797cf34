"""Tracker session semantics on small synthetic clips."""
from __future__ import annotations

import av
import numpy as np
import pytest
import torch

import aotvideo
from aotvideo.errors import FrameError, MaskError
from aotvideo.io.yuv import Yuv420Image
from aotvideo.tracking import network_input_size
from tests.conftest import moving_shapes_clip


def test_network_input_size_protocol():
    assert network_input_size(360, 640) == (353, 641)
    assert network_input_size(360, 640, align_corners=False) == (352, 640)
    assert network_input_size(1080, 1920) == (481, 849)      # short edge 480 first
    assert network_input_size(480, 2000) == (257, 1041)      # then the long edge 1040
    assert network_input_size(360, 640, scale=1.3) == (465, 833)


def test_ids_are_the_users_and_results_have_frame_shapes(deaott_model):
    frames, labels = moving_shapes_clip(frames=3, objects=2)
    mask = np.where(labels[0] == 1, 7, np.where(labels[0] == 2, 42, 0))
    tracker = aotvideo.Tracker(deaott_model, device="cpu")
    first = tracker.step(frames[0], mask=mask)
    assert first.object_ids == (7, 42)
    assert torch.equal(first.labels, torch.from_numpy(mask))
    assert first.probs.shape == (3, 64, 96)
    assert torch.allclose(first.probs.sum(0), torch.ones(64, 96))
    second = tracker.step(torch.from_numpy(frames[1]))
    assert second.frame_index == 1 and second.object_ids == (7, 42)
    assert second.probs.dtype == torch.float32 and second.labels.dtype == torch.int64
    assert set(torch.unique(second.labels).tolist()) <= {0, 7, 42}
    assert torch.equal(second.labels, torch.tensor([0, 7, 42])[second.probs.argmax(0)])


def test_frames_before_the_first_mask_pass_through(deaott_model):
    frames, labels = moving_shapes_clip(frames=3)
    tracker = aotvideo.Tracker(deaott_model, device="cpu")
    empty = tracker.step(frames[0])
    assert empty.object_ids == () and empty.probs.shape == (1, 64, 96)
    assert int(empty.labels.abs().sum()) == 0
    assert tracker.step(frames[1], mask=labels[1]).object_ids == (1, 2)
    assert tracker.step(frames[2]).frame_index == 2


def test_objects_added_later_and_reanchored(deaott_model):
    frames, labels = moving_shapes_clip(frames=5, objects=2)
    tracker = aotvideo.Tracker(deaott_model, device="cpu")
    tracker.step(frames[0], mask=(labels[0] == 1).astype(np.uint8))
    assert tracker.step(frames[1]).object_ids == (1,)
    later = np.where(labels[2] == 2, 5, 0)
    result = tracker.step(frames[2], mask=later)
    assert result.object_ids == (1, 5)
    assert torch.equal(result.labels == 5, torch.from_numpy(labels[2] == 2))
    assert result.probs.shape[0] == 3
    assert torch.all(result.probs[2][torch.from_numpy(labels[2] == 2)] == 1)
    # re-anchoring object 1 to a given region puts it exactly there
    region = np.zeros_like(labels[3])
    region[10:20, 10:30] = 1
    fixed = tracker.step(frames[3], mask=region)
    assert torch.equal(fixed.labels == 1, torch.from_numpy(region == 1))
    assert tracker.step(frames[4]).object_ids == (1, 5)


def test_more_than_ten_objects_use_several_identity_groups(deaott_model):
    frames, labels = moving_shapes_clip(frames=2, height=96, width=128, objects=1)
    mask = np.zeros((96, 128), np.int64)
    for k in range(12):  # a 3 x 4 grid of squares, ids 1..12
        y, x = divmod(k, 4)
        mask[8 + y * 28:24 + y * 28, 8 + x * 30:26 + x * 30] = k + 1
    tracker = aotvideo.Tracker(deaott_model, device="cpu")
    tracker.step(frames[0], mask=mask)
    result = tracker.step(frames[1])
    assert result.object_ids == tuple(range(1, 13))
    assert result.logits.shape[0] == 21  # 1 + 10 * two groups
    assert result.probs.shape == (13, 96, 128)


def test_remove_and_reset(deaott_model):
    frames, labels = moving_shapes_clip(frames=4)
    tracker = aotvideo.Tracker(deaott_model, device="cpu")
    tracker.step(frames[0], mask=labels[0])
    tracker.remove(2)
    result = tracker.step(frames[1])
    assert result.object_ids == (1,) and result.probs.shape[0] == 2
    assert 2 not in torch.unique(result.labels).tolist()
    with pytest.raises(KeyError, match="not tracked"):
        tracker.remove([9])
    tracker.reset()
    assert tracker.object_ids == () and tracker.frame_index == 0
    assert tracker.step(frames[2]).object_ids == ()


def test_bad_inputs_raise_clear_errors(deaott_model):
    frames, labels = moving_shapes_clip(frames=2)
    tracker = aotvideo.Tracker(deaott_model, device="cpu")
    with pytest.raises(MaskError, match="mask is 95x64 but the frame is 96x64"):
        tracker.step(frames[0], mask=labels[0][:, :95])
    with pytest.raises(MaskError, match="no object"):
        tracker.step(frames[0], mask=np.zeros((64, 96), np.uint8))
    with pytest.raises(FrameError, match="uint8"):
        tracker.step(frames[0].astype(np.float32), mask=labels[0])
    with pytest.raises(FrameError, match="H x W x 3"):
        tracker.step(frames[0][:, :, 0], mask=labels[0])
    tracker.step(frames[0], mask=labels[0])
    with pytest.raises(FrameError, match="differs from the video"):
        tracker.step(frames[1][:32])
    with pytest.raises(MaskError, match="not tracked"):
        tracker.step(frames[1], memory_labels=np.full((64, 96), 3))


def test_planar_frames_track_like_their_rgb(deaott_model):
    """A decoder's YUV planes go in as they are; the labels match the RGB frames' but for
    rounding (this untrained model amplifies it over the frames; the packaged model on real
    footage: samples/planar_agreement.py), and a picture of another size is refused."""
    frames, labels = moving_shapes_clip(frames=4, height=128, width=192)
    planes = [Yuv420Image(av.VideoFrame.from_ndarray(f, format="rgb24").reformat(
        format="yuv420p").to_ndarray()) for f in frames]
    from_rgb = aotvideo.Tracker(deaott_model, device="cpu", amp=False)
    from_planes = aotvideo.Tracker(deaott_model, device="cpu", amp=False)
    for index, (frame, picture) in enumerate(zip(frames, planes)):
        mask = labels[0] if index == 0 else None
        expected = from_rgb.step(picture.to_rgb(), mask=mask).labels.numpy()
        got = from_planes.step(picture, mask=mask).labels.numpy()
        assert got.shape == (128, 192) and expected.any()
        objects = (got > 0) | (expected > 0)
        agreement = ((got == expected) & objects).sum() / objects.sum()
        assert agreement > 0.8, (index, agreement)  # 0.89 or more; swapped U and V: 0.25
    small = Yuv420Image(np.zeros((48, 48), np.uint8))
    with pytest.raises(FrameError, match="differs from the video"):
        from_planes.step(small)


def test_long_term_memory_is_bounded(deaott_model):
    """A long clip with a gap of 1: memory grows up to the cap, then stays flat."""
    frames, labels = moving_shapes_clip(frames=2, height=48, width=64, objects=1)
    tracker = aotvideo.Tracker(deaott_model, device="cpu", max_long_term=4, long_term_gap=1)
    tracker.step(frames[0], mask=labels[0])
    sizes = []
    for t in range(40):
        tracker.step(frames[t % 2])
        sizes.append(tracker.memory_bytes)
    assert sizes[0] < sizes[3]                       # growing while below the cap
    assert len(set(sizes[5:])) == 1                  # flat afterwards
    group = tracker._augs[0].groups[0]
    assert group.num_long_term_frames == 1 + 4       # the mask frame and the 4 newest


def test_unbounded_memory_grows_like_the_original(deaott_model):
    frames, labels = moving_shapes_clip(frames=2, height=48, width=64, objects=1)
    tracker = aotvideo.Tracker(deaott_model, device="cpu", max_long_term=None, long_term_gap=2)
    tracker.step(frames[0], mask=labels[0])
    for t in range(10):
        tracker.step(frames[t % 2])
    assert tracker._augs[0].groups[0].num_long_term_frames == 1 + 5


def test_test_time_augmentation_averages_probabilities(deaott_model):
    frames, labels = moving_shapes_clip(frames=3)
    plain = aotvideo.Tracker(deaott_model, device="cpu")
    tta = aotvideo.Tracker(deaott_model, device="cpu", flip=True, scales=(1.0, 1.5))
    for tracker in (plain, tta):
        tracker.step(frames[0], mask=labels[0])
    assert [(a.scale, a.flip) for a in tta._augs] == [(1.0, False), (1.0, True), (1.5, False),
                                                      (1.5, True)]
    a, b = plain.step(frames[1]), tta.step(frames[1])
    assert b.probs.shape == a.probs.shape
    assert torch.allclose(b.probs.sum(0), torch.ones(64, 96), atol=1e-4)
    assert not torch.allclose(a.probs, b.probs)
    sizes = [aug.input_size for aug in tta._augs]
    assert sizes == [(65, 97), (65, 97), (97, 145), (97, 145)]
    assert [aug.flip for aug in tta._augs] == [False, True, False, True]


def test_flip_alone_equals_mirrored_input(deaott_model):
    """The flipped augmentation sees exactly the mirrored video (at a size the network takes
    without resizing), and the flip is undone exactly before averaging."""
    frames, labels = moving_shapes_clip(frames=3, height=65, width=97)
    mirrored = aotvideo.Tracker(deaott_model, device="cpu")
    mirrored.step(np.ascontiguousarray(frames[0][:, ::-1]), mask=labels[0][:, ::-1].copy())
    expected = mirrored.step(np.ascontiguousarray(frames[1][:, ::-1]))
    flipped = aotvideo.Tracker(deaott_model, device="cpu", flip=True)
    flipped.step(frames[0], mask=labels[0])
    both = flipped.step(frames[1])
    plain = aotvideo.Tracker(deaott_model, device="cpu")
    plain.step(frames[0], mask=labels[0])
    straight = plain.step(frames[1])
    average = (straight.probs + expected.probs.flip(-1)) / 2
    assert torch.allclose(both.probs, average, atol=1e-5)
    assert both.probs.shape == (3, 65, 97)


def test_bfloat16_autocast_on_cpu_runs(deaott_model):
    frames, labels = moving_shapes_clip(frames=3)
    tracker = aotvideo.Tracker(deaott_model, device="cpu", amp=True)
    tracker.step(frames[0], mask=labels[0])
    result = tracker.step(frames[1])
    assert result.probs.dtype == torch.float32 and torch.isfinite(result.probs).all()
    exact = aotvideo.Tracker(deaott_model, device="cpu")
    exact.step(frames[0], mask=labels[0])
    agreement = (exact.step(frames[1]).labels == result.labels).float().mean()
    assert agreement > 0.9


def test_one_model_serves_several_trackers(deaott_model):
    frames, labels = moving_shapes_clip(frames=3)
    first, second = (aotvideo.Tracker(deaott_model, device="cpu") for _ in range(2))
    first.step(frames[0], mask=labels[0])
    second.step(frames[0], mask=labels[0])
    first.step(frames[1])
    a = first.step(frames[2])
    second.step(frames[1])
    b = second.step(frames[2])
    assert torch.equal(a.probs, b.probs)


def test_weights_carry_their_preferred_input_size(deaott_model, tmp_path):
    """A checkpoint whose metadata prefers a smaller network input is tracked at that size,
    unless the caller says otherwise; a checkpoint without the entry keeps the protocol's."""
    from aotvideo.errors import WeightsError
    from aotvideo.models.weights import save_weights

    frames, labels = moving_shapes_clip(frames=2, height=120, width=200)
    plain = tmp_path / "plain.pth"
    small = tmp_path / "small.pth"
    save_weights(deaott_model, plain)
    save_weights(deaott_model, small, input={"max_short_edge": 64})

    def input_size(path, **options):
        model = aotvideo.load_weights(aotvideo.build_model("deaott"), path)
        tracker = aotvideo.Tracker(model, device="cpu", **options)
        tracker.step(frames[0], mask=labels[0])
        tracker.step(frames[1])
        return tracker._augs[0].input_size

    assert input_size(plain) == network_input_size(120, 200) == (113, 193)
    assert input_size(small) == network_input_size(120, 200, max_short_edge=64) == (65, 113)
    assert input_size(small, max_short_edge=480) == (113, 193)
    assert input_size(small, max_short_edge=None) == (113, 193)
    with pytest.raises(WeightsError, match="input"):
        save_weights(deaott_model, tmp_path / "bad.pth", input={"max_short_edge": "small"})
        aotvideo.load_weights(aotvideo.build_model("deaott"), tmp_path / "bad.pth")
    with pytest.raises(ValueError, match="max_short_edge"):
        aotvideo.Tracker(deaott_model, device="cpu", max_short_edge=8)


def test_small_frames_are_enlarged_to_the_minimum_the_weights_ask_for(deaott_model, tmp_path):
    """min_short_edge: a 120x200 clip runs through the network at a 160-pixel short edge when
    the weights prefer it (or the caller says so); labels and probabilities stay at the frame's
    size; ``None`` keeps the protocol (never enlarge)."""
    from aotvideo.models.weights import save_weights

    frames, labels = moving_shapes_clip(frames=3, height=120, width=200)
    enlarging = tmp_path / "enlarging.pth"
    save_weights(deaott_model, enlarging, input={"max_short_edge": 400, "min_short_edge": 160})

    def run(model, **options):
        tracker = aotvideo.Tracker(model, device="cpu", amp=False, **options)
        outs = [tracker.step(f, mask=labels[0] if i == 0 else None) for i, f in enumerate(frames)]
        return tracker._augs[0].input_size, outs[-1]

    loaded = aotvideo.load_weights(aotvideo.build_model("deaott"), enlarging)
    assert loaded.preferred_input["min_short_edge"] == 160
    size, out = run(loaded)
    assert size == network_input_size(120, 200, min_short_edge=160) == (161, 273)
    assert out.labels.shape == (120, 200) and out.probs.shape[-2:] == (120, 200)
    assert run(loaded, min_short_edge=None)[0] == (113, 193)
    assert run(deaott_model)[0] == (113, 193)  # no preference: never enlarged
    assert run(deaott_model, min_short_edge=240)[0] == network_input_size(120, 200,
                                                                          min_short_edge=240)
    # the enlarged run tracks the same shapes (it is the same model at a finer grid)
    plain = run(deaott_model)[1].labels
    agree = (plain == out.labels).float().mean().item()
    assert agree > 0.95, agree
    with pytest.raises(ValueError, match="min_short_edge"):
        aotvideo.Tracker(deaott_model, device="cpu", min_short_edge=4)


def test_one_object_per_group_is_each_object_alone_merged_by_probability(deaott_model):
    """objects_per_group=1: every object gets its own memory and pass; the first propagated
    frame's logits are the per-object trackers' outputs merged as the original merges groups."""
    frames, labels = moving_shapes_clip(frames=3, objects=3)
    grouped = aotvideo.Tracker(deaott_model, device="cpu", amp=False, objects_per_group=1)
    grouped.step(frames[0], mask=labels[0])
    merged = grouped.step(frames[1])
    assert merged.object_ids == (1, 2, 3) and merged.logits.shape[0] == 1 + 3
    alone = []
    for object_id in (1, 2, 3):
        single = aotvideo.Tracker(deaott_model, device="cpu", amp=False)
        single.step(frames[0], mask=(labels[0] == object_id).astype(np.uint8))
        alone.append(torch.softmax(single.step(frames[1]).logits, dim=0))
    background = alone[0][0] * alone[1][0] * alone[2][0]
    expected = torch.logit(torch.stack([background] + [p[1] for p in alone]).clamp(1e-5, 1 - 1e-5))
    assert torch.allclose(merged.logits, expected, atol=1e-4)
    shared = aotvideo.Tracker(deaott_model, device="cpu", amp=False)
    shared.step(frames[0], mask=labels[0])
    shared.step(frames[1])
    assert grouped.memory_bytes > 2.5 * shared.memory_bytes  # three memories, not one


def test_objects_per_group_does_not_change_a_single_object(deaott_model):
    frames, labels = moving_shapes_clip(frames=4, objects=1)
    runs = []
    for per_group in (None, 1):
        tracker = aotvideo.Tracker(deaott_model, device="cpu", amp=False,
                                   objects_per_group=per_group)
        runs.append([tracker.step(f, mask=labels[0] if i == 0 else None)
                     for i, f in enumerate(frames)])
    for a, b in zip(*runs):
        assert torch.equal(a.labels, b.labels) and torch.equal(a.probs, b.probs)


@pytest.mark.parametrize("per_group", [0, 11, -1, "two", True])
def test_objects_per_group_must_fit_the_identity_bank(deaott_model, per_group):
    with pytest.raises(ValueError, match="objects_per_group"):
        aotvideo.Tracker(deaott_model, device="cpu", objects_per_group=per_group)


def test_auto_grouping_follows_the_weights_preference(deaott_model):
    import copy

    assert aotvideo.Tracker(deaott_model, device="cpu").objects_per_group == 10  # no preference
    preferring = copy.deepcopy(deaott_model)
    preferring.preferred_input = {"max_short_edge": 240, "objects_per_group": 2}
    assert aotvideo.Tracker(preferring, device="cpu").objects_per_group == 2
    assert aotvideo.Tracker(preferring, device="cpu", objects_per_group=None).objects_per_group == 10
    assert aotvideo.Tracker(preferring, device="cpu", objects_per_group=3).objects_per_group == 3
