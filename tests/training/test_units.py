"""Fast checks of the training parts: recipe, losses, schedule, data stream, kernels."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import aotvideo
from aotvideo.training import (ClipDataset, StepBatchSampler, apply_overrides, build_sources,
                               config_from_dict, config_to_dict, render_video, stage_config)
from aotvideo.training.datasets import read_labels
from aotvideo.training.losses import (bootstrapped_cross_entropy, hard_pixel_fraction,
                                      soft_jaccard)
from aotvideo.training.optim import (aux_loss_weight, learning_rate, parameter_groups)
from aotvideo.training.trainer import build_training_model

from train_helpers import make_static_dataset, tiny_config


# ----------------------------------------------------------------------------- configuration
def test_stage_recipes_follow_the_original() -> None:
    main = stage_config("pre_ytb_dav", "deaotl")
    assert main.datasets == ("youtubevos", "davis2017")
    assert (main.lr, main.min_lr, main.weight_decay) == (2e-4, 2e-5, 0.07)
    assert (main.warmup_ratio, main.lr_power, main.encoder_lr_ratio) == (0.05, 0.9, 0.1)
    assert main.long_term_gap == 2 and main.data.crop_size == (465, 465)
    assert main.seq_training_start_ratio == 0.5 and main.clip_grad_norm == 5.0
    pre = stage_config("pre", "deaott")
    assert pre.datasets == ("static",) and pre.data.merge_prob == 1.0
    assert (pre.lr, pre.weight_decay, pre.aux_loss_ratio) == (4e-4, 0.03, 0.1)
    assert pre.seq_training_start_ratio == 1.0 and pre.long_term_gap == 9999
    swin = stage_config("ytb", "swinb_deaotl")
    assert swin.data.crop_size == (464, 464) and swin.min_lr == 1e-5


def test_overrides_and_round_trip() -> None:
    config = apply_overrides(stage_config("synthetic", "deaott"),
                             ["lr=1e-3", "data.crop_size=129", "data.synthetic_objects=2,3",
                              "model.window_radius=3", "init_weights=none", "amp=false"])
    assert config.lr == 1e-3 and config.data.crop_size == (129, 129)
    assert config.data.synthetic_objects == (2, 3) and not config.amp
    assert config.model_kwargs == {"window_radius": 3}
    assert config_from_dict(config_to_dict(config)) == config
    with pytest.raises(ValueError):
        apply_overrides(config, ["no_such_field=1"])
    with pytest.raises(ValueError):
        apply_overrides(config, ["lr=fast"])
    with pytest.raises(ValueError):
        stage_config("synthetic", "deaott", batch_size=3, accumulation=2).micro_batch(1)


# ----------------------------------------------------------------------------- losses
def test_losses() -> None:
    torch.manual_seed(0)
    logits = torch.randn(2, 11, 8, 8)
    labels = torch.randint(0, 3, (2, 8, 8))
    full = bootstrapped_cross_entropy(logits, labels, 1.0)
    assert torch.allclose(full, F.cross_entropy(logits, labels, reduction="none").mean((1, 2)))
    hard = bootstrapped_cross_entropy(logits, labels, 0.15)
    assert torch.all(hard > full)
    assert hard_pixel_fraction(0, 0.15, 100) == 1.0
    assert hard_pixel_fraction(50, 0.15, 100) == pytest.approx(0.575)
    assert hard_pixel_fraction(500, 0.15, 100) == pytest.approx(0.15)
    # a perfect prediction has (almost) no Jaccard loss; unused channels do not count
    perfect = F.one_hot(labels, 11).permute(0, 3, 1, 2).float() * 50
    assert soft_jaccard(perfect, labels, torch.tensor([2, 2])).max() < 1e-3
    wrong = perfect.roll(1, dims=1)
    assert soft_jaccard(wrong, labels, torch.tensor([2, 2])).min() > 0.9


# ----------------------------------------------------------------------------- optimiser
def test_learning_rate_schedule_and_aux_weight() -> None:
    config = stage_config("synthetic", "deaott", total_steps=1000)
    assert learning_rate(0, config) == pytest.approx(config.min_lr)
    assert learning_rate(50, config) == pytest.approx(config.lr, rel=1e-3)
    assert learning_rate(999, config) == pytest.approx(config.min_lr, abs=2e-6)
    values = [learning_rate(s, config) for s in range(50, 1000, 10)]
    assert all(a >= b for a, b in zip(values, values[1:]))
    assert aux_loss_weight(0, config) == pytest.approx(1.0)
    assert aux_loss_weight(500, config) == pytest.approx(0.5, rel=1e-4)
    assert aux_loss_weight(1000, config) == pytest.approx(0.0, abs=1e-6)


def test_parameter_groups_weight_decay_exemptions() -> None:
    config = stage_config("synthetic", "aott")
    model = build_training_model(config)
    names = {id(p): n for n, p in model.named_parameters()}
    decay = {names[id(p)]: g["weight_decay"] > 0 for g in parameter_groups(model, config)
             for p in g["params"]}
    encoder = {names[id(p)] for g in parameter_groups(model, config) if g["is_encoder"]
               for p in g["params"]}
    assert not decay["decoder.conv_out.weight"] and not decay["decoder.conv_out.bias"]
    assert not decay["LSTT.layers.0.short_term_attn.relative_emb_v"]
    assert not decay["LSTT.layers.0.norm1.weight"]
    assert decay["LSTT.layers.0.linear_Q.weight"] and decay["patch_wise_id_bank.weight"]
    assert encoder and all(n.startswith("encoder.") for n in encoder)
    # frozen encoder stages are not optimised
    assert all(n in decay for n, p in model.named_parameters() if p.requires_grad)
    assert any(not p.requires_grad for p in model.encoder.parameters())


# ----------------------------------------------------------------------------- data
def test_step_keys_do_not_depend_on_the_process_count() -> None:
    def keys(world: int, micro: int, accumulation: int, start: int = 0) -> list[int]:
        out = []
        iters = [iter(StepBatchSampler(start, micro, world, r, accumulation))
                 for r in range(world)]
        for _ in range(accumulation * 3):
            for it in iters:
                out.extend(next(it))
        return sorted(out)

    single = keys(1, 4, 1)
    assert single == list(range(12))
    assert keys(2, 2, 1) == single == keys(2, 1, 2) == keys(4, 1, 1)
    assert keys(1, 4, 1, start=5)[0] == 20


def test_clip_stream_is_a_function_of_the_key(tmp_path: Path) -> None:
    root = make_static_dataset(tmp_path / "static")
    config = tiny_config("pre", tmp_path / "run", data={"static_root": str(root)})
    dataset = ClipDataset(build_sources(config), config.data, seed=3)
    again = ClipDataset(build_sources(config), config.data, seed=3)
    a, b, c = dataset[7], again[7], dataset[8]
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["frames"], c["frames"])
    assert a["frames"].shape == (3, 3, 97, 97) and a["labels"].shape == (3, 97, 97)
    assert int(a["labels"].max()) <= int(a["num_objects"]) <= 10
    assert a["id_perm"][0] == 0 and sorted(a["id_perm"].tolist()) == list(range(11))
    # every sample of an epoch is visited once
    located = {dataset.locate(k)[1] for k in range(len(dataset))}
    assert located == set(range(len(dataset)))


def test_read_labels_formats(tmp_path: Path) -> None:
    import cv2

    binary = np.zeros((6, 8), np.uint8)
    binary[2:4, 2:6] = 255
    cv2.imwrite(str(tmp_path / "b.png"), binary)
    assert set(np.unique(read_labels(tmp_path / "b.png"))) == {0, 1}
    from train_helpers import write_palette_png

    ids = np.zeros((6, 8), np.uint8)
    ids[0, 0], ids[1, 1], ids[5, 7] = 1, 3, 255
    write_palette_png(tmp_path / "p.png", ids)
    assert read_labels(tmp_path / "p.png").tolist() == np.where(ids == 255, 0, ids).tolist()


def test_synthetic_videos_are_seeded() -> None:
    a = render_video(np.random.default_rng(5), 4, (64, 80))
    b = render_video(np.random.default_rng(5), 4, (64, 80))
    c = render_video(np.random.default_rng(6), 4, (64, 80))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])
    frames, labels = a
    assert frames.shape == (4, 64, 80, 3) and frames.dtype == np.uint8
    assert labels.shape == (4, 64, 80) and labels[0].max() >= 1
    # objects are numbered 1..N, all visible in the first frame
    present = np.unique(labels[0])
    assert present.tolist() == list(range(int(present.max()) + 1))
    assert set(np.unique(labels)) <= set(present.tolist())


def test_training_model_settings() -> None:
    config = stage_config("synthetic", "deaott", droppath=0.2, conv_dropout=0.0)
    model = build_training_model(config)
    from aotvideo.models.layers import DropPath

    rates = {m.drop_prob for m in model.modules() if isinstance(m, DropPath)}
    assert rates == {0.2}
    assert all(m.p == 0.0 for m in model.modules() if isinstance(m, torch.nn.Dropout2d))
    assert isinstance(model, aotvideo.models.AOTModel)
    assert math.isclose(learning_rate(0, config), config.min_lr)


# ----------------------------------------------------------------------------- command line
def test_cli_show_config_and_errors(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from aotvideo.cli.train import train_group

    runner = CliRunner()
    shown = runner.invoke(train_group, ["ytb", "--model", "deaotl", "--show-config", "--lr",
                                        "1e-4", "--set", "data.merge_prob=0.5"])
    assert shown.exit_code == 0, shown.output
    assert "lr = 0.0001" in shown.output and "data.merge_prob = 0.5" in shown.output
    assert "long_term_gap = 2" in shown.output
    bad = runner.invoke(train_group, ["synthetic", "--show-config", "--set", "nope=1"])
    assert bad.exit_code == 2 and "unknown setting" in bad.output
    missing = runner.invoke(train_group, ["pre", "-o", str(tmp_path / "run"), "--device", "cpu"])
    assert missing.exit_code == 2 and "data.static_root" in missing.output


def test_training_precision_follows_the_hardware_like_tracking() -> None:
    """``amp`` defaults to ``auto``: bfloat16 only on CPUs that compute it natively (emulated
    bfloat16 trains many times slower than float32), float16 on CUDA; ``--set amp=...`` reads
    true, false and auto."""
    from aotvideo.tracking.precision import cpu_has_native_bfloat16
    from aotvideo.training.trainer import _autocast

    config = stage_config("real", "deaott")
    assert config.amp == "auto"
    assert [apply_overrides(config, [f"amp={v}"]).amp for v in ("true", "false", "auto")] == \
        [True, False, "auto"]
    cpu = torch.device("cpu")
    with _autocast(cpu, "auto"):
        dtype = (torch.ones(2, 2) @ torch.ones(2, 2)).dtype
    assert dtype == (torch.bfloat16 if cpu_has_native_bfloat16() else torch.float32)
    with _autocast(cpu, True):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.bfloat16
    with _autocast(cpu, False):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32
