"""RopeSpec produces complete overrides and refuses bad specs with one line."""
import math
from pathlib import Path

import pytest

from evalsuite.rope import BaseRope, RopeSpec, dynamic_theta
from evalsuite.types import EvalError

BASE = BaseRope.from_config({"hidden_size": 128, "num_attention_heads": 2, "max_position_embeddings": 512,
                             "rope_parameters": {"rope_theta": 10000.0, "rope_type": "default"}})
DEMO_FACTORS = Path(__file__).resolve().parents[2] / "evalsuite" / "demo_model" / "longrope_8x.json"
ALL = ["none", "pi:factor=4", "ntk:factor=4", "dynamic:factor=4", "yarn:factor=4", "llama3:factor=4",
       "abf:theta=500000", "longrope:long=[" + ",".join(["2.0"] * 32) + "]"]


@pytest.mark.parametrize("spec", ALL)
def test_overrides_are_complete(spec):
    rope = RopeSpec.parse(spec)
    for overrides in (rope.to_hf(BASE, 2048), rope.to_vllm(BASE, 2048, 2048)[0]):
        params = overrides["rope_parameters"]
        assert "rope_type" in params and "type" not in params        # pitfall 1: key name
        assert params["rope_theta"] > 0                               # pitfall 1: theta always sent
        assert overrides["max_position_embeddings"] >= 512
    assert rope.to_vllm(BASE, 2048)[0]["rope_parameters"]["rope_type"] != "dynamic"   # pitfall 4


def test_scaled_methods_raise_max_positions_to_capacity():       # pitfall 3
    for spec in ("yarn:factor=4", "llama3:factor=4", "pi:factor=4"):
        rope = RopeSpec.parse(spec)
        assert rope.capacity(BASE) == 2048
        assert rope.to_vllm(BASE, 2048) == (rope.to_vllm(BASE, 2048)[0], 2048)
        assert rope.to_vllm(BASE, 2048)[0]["max_position_embeddings"] == 2048
        assert rope.to_hf(BASE, 1024)["max_position_embeddings"] == 2048   # HF ratio == factor


def test_ntk_theta_formula():
    params = RopeSpec.parse("ntk:factor=4").to_hf(BASE, 2048)["rope_parameters"]
    assert params["rope_type"] == "default"
    assert math.isclose(params["rope_theta"], 10000 * 4 ** (64 / 62))


def test_dynamic_is_emulated_per_length_in_vllm():
    rope = RopeSpec.parse("dynamic:factor=4")
    assert rope.to_hf(BASE, 2048)["rope_parameters"]["rope_type"] == "dynamic"
    assert rope.to_hf(BASE, 2048)["max_position_embeddings"] == 512     # HF reads it as the original
    assert rope.to_vllm(BASE, 2048, 256) == rope.to_vllm(BASE, 2048, 512)      # one engine up to the original
    assert rope.to_vllm(BASE, 2048, 512)[0]["rope_parameters"]["rope_theta"] == 10000
    overrides, max_model_len = rope.to_vllm(BASE, 2048, 1024)
    assert max_model_len == 1024 and rope.to_vllm(BASE, 2048, 256)[1] == 2048
    theta = overrides["rope_parameters"]["rope_theta"]
    assert math.isclose(theta, dynamic_theta(10000, 64, 4, 512, 1024))
    assert math.isclose(theta, 10000 * (4 * 2 - 3) ** (64 / 62))


def test_longrope_mscale_matches_hf_attention_factor():             # pitfall 5 and the mscale note
    rope = RopeSpec.parse("longrope:factor=4,long=[" + ",".join(["2.0"] * 32) + "]")
    hf = rope.to_hf(BASE, 2048)["rope_parameters"]
    vl = rope.to_vllm(BASE, 2048)[0]["rope_parameters"]
    assert vl["long_mscale"] == vl["short_mscale"] == hf["attention_factor"]
    assert math.isclose(hf["attention_factor"], math.sqrt(1 + math.log(4) / math.log(512)))
    assert "attention_factor" not in vl and "factor" not in vl
    short, long = rope.to_vllm(BASE, 2048, 512), rope.to_vllm(BASE, 2048, 1024)
    assert short[0] == long[0] and short[1] == 512 and long[1] == 2048     # short factors: own engine


def test_longrope_from_checkpoint_config(tmp_path):
    cfg = tmp_path / "config.json"
    cfg.write_text('{"rope_scaling": {"type": "longrope", "short_factor": [1.0, 1.0], "long_factor": [1.5, 3.0],'
                   ' "original_max_position_embeddings": 4096}}')
    rope = RopeSpec.parse(f"longrope:file={cfg}")
    assert rope.p["long"] == (1.5, 3.0) and rope.p["original"] == 4096


def test_abf_and_label():
    rope = RopeSpec.parse("abf:theta=500000")
    assert rope.to_hf(BASE, 512)["rope_parameters"]["rope_theta"] == 500000
    assert rope.capacity(BASE) == 512
    assert RopeSpec.parse("linear:factor=2").label == "pi:factor=2"


@pytest.mark.parametrize("bad,fragment", [
    ("rotary", "unknown RoPE method"),
    ("yarn", "needs factor"),
    ("yarn:factor=0", "positive"),
    ("yarn:factor=-2", "positive"),
    ("yarn:factor=abc", "not a number"),
    ("yarn:factr=4", "takes no parameter"),
    ("yarn:factor", "key=value"),
    ("yarn:factor=4,original=100.5", "whole number"),
    ("ntk:factor=0.5", ">= 1"),
    ("longrope:factor=4", "factor arrays"),
    ("longrope:long=[1,2],short=[1]", "differ in size"),
    ("longrope:long=[a]", "JSON list"),
    ("longrope:file=/nonexistent.json", "cannot read"),
    ("abf", "needs theta"),
])
def test_bad_specs(bad, fragment):
    with pytest.raises(EvalError, match=fragment) as e:
        RopeSpec.parse(bad)
    assert "\n" not in str(e.value)


def test_factor_array_size_is_checked_against_the_model():
    rope = RopeSpec.parse("longrope:long=[1,2,3]")
    with pytest.raises(EvalError, match="head_dim/2 = 32"):
        rope.to_hf(BASE, 1024)


def test_longrope_labels_tell_factor_arrays_apart():
    """Labels key stored records: two different factor arrays must not share one (resume would skip)."""
    a = RopeSpec.parse("longrope:long=[" + ",".join(["2"] * 32) + "]")
    b = RopeSpec.parse("longrope:long=[" + ",".join(["2"] * 31 + ["3"]) + "]")
    again = RopeSpec.parse("longrope:long=[" + ",".join(["2.0"] * 32) + "]")
    assert a.label != b.label and a.label == again.label
    assert a.label.startswith("longrope:dims=32,factors=")


def test_registry_one_class_per_method():
    from evalsuite.rope import ALIASES, method_classes, method_help
    classes = method_classes()
    assert list(classes) == ["none", "pi", "ntk", "dynamic", "yarn", "longrope", "llama3", "abf"]
    assert [name for name, _ in method_help()] == list(classes)
    assert all(help_text and "\n" not in help_text for _, help_text in method_help())
    assert ALIASES == {"linear": "pi", "ntk-aware": "ntk", "dynamic-ntk": "dynamic", "default": "none",
                       "native": "none"}
    for alias, method in ALIASES.items():
        spec = alias if method in ("none",) else f"{alias}:factor=2"
        assert type(RopeSpec.parse(spec)) is classes[method] and RopeSpec.parse(spec).method == method
    assert RopeSpec.parse("YaRN:factor=2") == RopeSpec.parse("yarn:factor=2.0")
    assert len({RopeSpec.parse("pi:factor=2"), RopeSpec.parse("linear:factor=2")}) == 1


@pytest.mark.parametrize("spec,label", [
    ("none", "none"), ("default", "none"), ("pi:factor=2", "pi:factor=2"),
    ("ntk:factor=4,original=256", "ntk:factor=4,original=256"),
    ("yarn:factor=4,beta_fast=16", "yarn:beta_fast=16,factor=4"),
    ("abf:theta=500000,max=4096", "abf:max=4096,theta=500000"),
    ("llama3:factor=8", "llama3:factor=8"),
    ("longrope:factor=2,long=[" + ",".join(["2"] * 32) + "]", "longrope:factor=2,dims=32,factors=b98f9883"),
    (f"longrope:file={DEMO_FACTORS}", "longrope:factor=8,original=512,dims=32,factors=4ff44b9d"),
])
def test_labels_are_unchanged(spec, label):
    assert RopeSpec.parse(spec).label == label


def test_a_new_method_is_one_class():
    from evalsuite import rope as rope_mod
    from evalsuite.plugins import ROPE_METHODS

    @rope_mod.register
    class HalfTheta(rope_mod.RopeSpec):
        method, help = "test-half", "test only: theta / 2"
        allowed = frozenset({"max"})

        def capacity(self, base):
            return int(self.p.get("max", base.original))

        def rope_parameters(self, base):
            return {"rope_type": "default", "rope_theta": base.theta / 2}
    try:
        spec = RopeSpec.parse("test-half:max=1024")
        assert spec.label == "test-half:max=1024" and spec.capacity(BASE) == 1024
        assert spec.to_vllm(BASE, 1024) == ({"rope_parameters": {"rope_type": "default", "rope_theta": 5000.0},
                                             "max_position_embeddings": 1024}, 1024)
        assert ("test-half", "test only: theta / 2") in rope_mod.method_help()
        with pytest.raises(ValueError, match="registered twice"):
            rope_mod.register(HalfTheta)
    finally:
        ROPE_METHODS.unregister("test-half")


def test_partial_rotary_models_keep_their_fraction():
    """transformers 5 and vLLM read partial_rotary_factor from rope_parameters, which an override replaces."""
    neox = BaseRope.from_config({"model_type": "gpt_neox", "hidden_size": 256, "num_attention_heads": 2,
                                 "max_position_embeddings": 512, "rotary_pct": 0.25, "rotary_emb_base": 10000})
    assert neox.dim == 32 and neox.head_dim == 128
    for spec in ("none", "yarn:factor=2", "ntk:factor=2", "dynamic:factor=2"):
        rope = RopeSpec.parse(spec)
        assert rope.to_hf(neox, 1024)["rope_parameters"]["partial_rotary_factor"] == 0.25
        assert rope.to_vllm(neox, 1024, 1024)[0]["rope_parameters"]["partial_rotary_factor"] == 0.25
    theta = RopeSpec.parse("ntk:factor=2").to_hf(neox, 1024)["rope_parameters"]["rope_theta"]
    assert math.isclose(theta, 10000 * 2 ** (32 / 30))                 # rotated dims, not head_dim
    with pytest.raises(EvalError, match="rotary dims/2 = 16"):
        RopeSpec.parse("longrope:long=[" + ",".join(["2"] * 64) + "]").to_hf(neox, 1024)
    assert "partial_rotary_factor" not in RopeSpec.parse("yarn:factor=2").to_hf(BASE, 1024)["rope_parameters"]


def test_a_checkpoint_that_ships_scaling_keeps_it_and_its_declared_context():
    """`none` (alias `native`) on a YaRN or Llama-3.1 checkpoint: its own rope_scaling, and the
    context its config declares (not the pre-scaling original)."""
    cfg = {"hidden_size": 64, "num_attention_heads": 2, "max_position_embeddings": 2048, "rope_theta": 10000.0,
           "rope_scaling": {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 512}}
    base = BaseRope.from_config(cfg)
    native = RopeSpec.parse("native")
    assert native.label == "none" and base.original == 512
    assert native.capacity(base) == 2048
    hf = native.to_hf(base, 2048)
    assert hf["rope_parameters"]["rope_type"] == "yarn" and hf["rope_parameters"]["factor"] == 4.0
    plain = BaseRope.from_config({**cfg, "max_position_embeddings": 512, "rope_scaling": None})
    assert RopeSpec.parse("none").capacity(plain) == 512


@pytest.mark.parametrize("text", ["none", "pi:factor=4", "ntk:factor=4", "dynamic:factor=2", "yarn:factor=4,original=256",
                                  "llama3:factor=8", "abf:theta=40000", f"longrope:file={DEMO_FACTORS}"])
def test_a_setting_round_trips_through_run_json_and_knows_its_factors(text):
    import json

    import numpy as np
    spec = RopeSpec.parse(text)
    back = RopeSpec.from_json(json.loads(json.dumps(spec.to_json())))
    assert back == spec and back.label == spec.label and back.name == spec.name
    from evalsuite.models.resolve import load_model_config, resolve_model
    demo = BaseRope.from_config(load_model_config(resolve_model(None)))     # the factor file's model
    factors = spec.factors(demo, 1024)
    assert factors is not None and factors.shape == (demo.dim // 2,) and np.all(factors > 0)
    if spec.method in ("none",):
        assert np.allclose(factors, 1.0)
    if spec.method == "pi":
        assert np.allclose(factors, 4.0)
