"""Model registry, layouts of all variants, weights loading."""
from __future__ import annotations

import json

import pytest
import torch

import aotvideo
from aotvideo.errors import ModelNotFoundError, WeightsError
from aotvideo.models import get_config, matching_variants, read_checkpoint, save_weights
from aotvideo.models.rule_weights import rule_state_dict

class Payload:
    """An arbitrary object: only an unpickler that may run code could rebuild it."""


ZOO = ["aott", "aots", "aotb", "aotl", "r50_aotl", "r101_aotl", "rs101_aotl", "swinb_aotl",
       "deaott", "deaots", "deaotb", "deaotl", "r50_deaotl", "swinb_deaotl"]


def test_list_models_is_the_zoo(reference_dir):
    layouts = json.loads((reference_dir / "layouts.json").read_text())
    assert aotvideo.list_models() == list(layouts) == ZOO


@pytest.mark.parametrize("name", ZOO)
def test_state_dict_equals_reference_layout(name, reference_dir):
    layout = json.loads((reference_dir / "layouts.json").read_text())[name]
    with torch.device("meta"):
        model = aotvideo.build_model(name)
    got = [[k, list(v.shape), str(v.dtype).removeprefix("torch.")]
           for k, v in model.state_dict().items()]
    assert got == layout["params"]
    config = get_config(name)
    ref = layout["config"]
    assert config.num_layers == ref["MODEL_LSTT_NUM"]
    assert config.long_term_gap == ref["TEST_LONG_TERM_MEM_GAP"]
    assert config.align_corners == ref["MODEL_ALIGN_CORNERS"]
    assert list(config.encoder_dims) == ref["MODEL_ENCODER_DIM"]
    assert config.self_heads == ref["MODEL_SELF_HEADS"]
    assert config.attention_heads == ref["MODEL_ATT_HEADS"]
    # the layouts' count covers every tensor but batch-norm statistics (Swin's integer
    # relative_position_index included)
    counted = sum(v.numel() for k, v in model.state_dict().items()
                  if not k.endswith(("running_mean", "running_var", "num_batches_tracked")))
    assert counted == layout["param_count"]


def test_unknown_model_is_a_clear_error():
    with pytest.raises(ModelNotFoundError, match="unknown model 'deaotx'.*deaott"):
        aotvideo.build_model("deaotx")
    with pytest.raises(KeyError):  # also a KeyError for callers that expect one
        aotvideo.build_model("nope")


def test_config_is_frozen():
    config = get_config("deaott")
    with pytest.raises(Exception):
        config.num_layers = 5  # type: ignore[misc]


def test_load_weights_accepts_every_format(tmp_path):
    model = aotvideo.build_model("deaott")
    state = rule_state_dict(model)
    probe = "LSTT.layers.0.linear_QV.weight"
    reference_format = tmp_path / "zoo.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}}, reference_format)
    plain = tmp_path / "plain.pth"
    torch.save(state, plain)
    for source in (reference_format, str(plain), state, {"state_dict": state}):
        fresh = aotvideo.build_model("deaott")
        assert aotvideo.load_weights(fresh, source) is fresh
        assert torch.equal(fresh.state_dict()[probe], state[probe])
    own = save_weights(fresh, tmp_path / "own" / "deaott.pth", note="test")
    _, meta = read_checkpoint(own)
    assert meta["model"] == "deaott" and meta["note"] == "test"
    again = aotvideo.load_weights(aotvideo.build_model("deaott"), own)
    assert torch.equal(again.state_dict()[probe], state[probe])


def test_float16_checkpoint_loads_into_float32_model():
    model = aotvideo.build_model("deaott")
    half = {k: (v.half() if v.dtype.is_floating_point else v)
            for k, v in rule_state_dict(model).items()}
    aotvideo.load_weights(model, half)
    assert model.state_dict()["id_norm.weight"].dtype == torch.float32


def test_wrong_checkpoint_names_the_variant_it_fits():
    aott_state = rule_state_dict(aotvideo.build_model("aott"))
    with pytest.raises(WeightsError) as info:
        aotvideo.load_weights(aotvideo.build_model("deaott"), aott_state)
    message = str(info.value)
    assert "does not fit model 'deaott'" in message
    assert "it fits: aott" in message
    assert "missing" in message and "unexpected" in message


def test_shape_mismatch_is_listed():
    state = rule_state_dict(aotvideo.build_model("deaott"))
    state["decoder.conv_out.weight"] = torch.zeros(5, 128, 1, 1)
    with pytest.raises(WeightsError, match=r"wrong shape: decoder.conv_out.weight: checkpoint "
                                           r"\(5, 128, 1, 1\) vs model \(11, 128, 1, 1\)"):
        aotvideo.load_weights(aotvideo.build_model("deaott"), state)


def test_b_and_l_variants_share_a_layout():
    state = rule_state_dict(aotvideo.build_model("deaotb"))
    assert matching_variants(state) == ["deaotb", "deaotl"]


def test_unreadable_and_pickled_files_are_rejected(tmp_path):
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match="cannot read weights"):
        aotvideo.load_weights(aotvideo.build_model("deaott"), bad)
    with pytest.raises(WeightsError, match="not found"):
        aotvideo.load_weights(aotvideo.build_model("deaott"), tmp_path / "missing.pth")

    evil = tmp_path / "evil.pth"
    torch.save({"state_dict": {}, "x": Payload()}, evil)
    with pytest.raises(WeightsError, match="cannot read weights"):
        aotvideo.load_weights(aotvideo.build_model("deaott"), evil)


def test_mobilenetv3_variant_builds_runs_and_trains():
    model = aotvideo.build_model("deaott", encoder="mobilenetv3")
    assert model.config.encoder_dims == (24, 40, 112, 960)
    model.train()
    image = torch.randn(1, 3, 65, 97)
    feats = model.encode_image(image)
    one_hot = torch.zeros(1, 11, 65, 97)
    one_hot[:, 0] = 1
    one_hot[:, 0, 20:40, 30:60] = 0
    one_hot[:, 1, 20:40, 30:60] = 1
    id_emb = model.identity_embedding(one_hot)
    ref = model.propagate(feats, None, None, id_emb=id_emb,
                          pos_emb=model.position_embedding(5, 7))
    feats2 = model.encode_image(torch.randn(1, 3, 65, 97))
    out = model.propagate(feats2, ref.fused, ref.fused)
    logits = model.decode(out.embeddings, feats2)
    assert logits.shape == (1, 11, 17, 25)
    loss = torch.nn.functional.cross_entropy(logits, torch.zeros(1, 17, 25, dtype=torch.long))
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads
                         if g is not None)
    assert model.encoder_projector.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("name", ["deaott", "aott"])
def test_identity_embedding_of_labels_equals_the_one_hot_path(name):
    torch.manual_seed(0)
    model = aotvideo.build_model(name)
    labels = torch.zeros(65, 97, dtype=torch.long)
    labels[10:30, 20:50] = 3
    labels[40:60, 5:25] = 1
    one_hot = torch.nn.functional.one_hot(labels, 11).permute(2, 0, 1).unsqueeze(0).float()
    with torch.no_grad():
        assert torch.equal(model.identity_embedding_of_labels(labels),
                           model.identity_embedding(one_hot))
        full = torch.nn.functional.conv2d(one_hot, model.patch_wise_id_bank.weight,
                                          model.patch_wise_id_bank.bias, 16, 8)
        expected = model._finish_identity(full)
        assert torch.allclose(model.identity_embedding_of_labels(labels), expected, atol=1e-5)
