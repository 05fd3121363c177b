"""Bad RoPE values are one-line EvalErrors naming the value, never tracebacks, overflow or silent acceptance."""
import json
import math

import pytest

from evalsuite.rope import MAX_FACTOR, BaseRope, RopeSpec
from evalsuite.types import EvalError

BASE = BaseRope.from_config({"hidden_size": 128, "num_attention_heads": 2, "max_position_embeddings": 512,
                             "rope_parameters": {"rope_theta": 10000.0, "rope_type": "default"}})
LONG32 = ",".join(["2.0"] * 32)


def _fails(spec: str, *fragments: str) -> str:
    with pytest.raises(EvalError) as e:
        rope = RopeSpec.parse(spec)
        rope.to_hf(BASE, 4096)
        rope.to_vllm(BASE, 4096, 4096)
    msg = str(e.value)
    assert "\n" not in msg
    for fragment in fragments:
        assert fragment.lower() in msg.lower(), msg
    return msg


@pytest.mark.parametrize("spec,fragments", [
    ("yarn:factor=1e308", ["factor=1e308", "at most"]),
    ("ntk:factor=1e300", ["factor=1e300", "at most"]),
    ("dynamic:factor=1e300", ["factor=1e300"]),
    ("pi:factor=inf", ["factor=inf"]),
    ("yarn:factor=nan", ["factor=nan"]),
    ("abf:theta=1e300", ["theta=1e300", "at most"]),
    ("abf:theta=500000,max=1e300", ["max=1e300"]),
    ("yarn:factor=4,original=1e20", ["original=1e20"]),
    ("yarn:factor=4,factor=8", ["'factor'", "twice"]),
    ("longrope:long=[1],long=[2]", ["'long'", "twice"]),
    ("yarn:factor=4,beta_fast=1,beta_slow=32", ["beta_fast=1", "beta_slow=32"]),
    ("yarn:factor=4,beta_slow=40", ["beta_fast=32", "beta_slow=40"]),
    ("llama3:factor=8,low_freq_factor=4,high_freq_factor=4", ["high_freq_factor=4", "low_freq_factor=4"]),
    ("longrope:long=[NaN," + LONG32[4:] + "]", ["NaN", "entry 0"]),
    ("longrope:long=[Infinity," + LONG32[4:] + "]", ["Infinity"]),
    ("longrope:long=[2.0,-1," + LONG32[8:] + "]", ["entry 1", "-1"]),
    ("longrope:long=[2.0,true]", ["entry 1", "true"]),
    ("longrope:long=[1e300]", ["1e+300"]),
    ("longrope:long=[]", ["long"]),
])
def test_absurd_values_are_one_line_errors(spec, fragments):
    _fails(spec, *fragments)


def test_computed_theta_must_be_finite():
    huge = BaseRope.from_config({"hidden_size": 128, "num_attention_heads": 2, "max_position_embeddings": 512,
                                 "rope_theta": 1e11})
    with pytest.raises(EvalError, match="rope_theta="):
        RopeSpec.parse("ntk:factor=1000").to_hf(huge, 4096)
    with pytest.raises(EvalError, match="rope_theta="):
        RopeSpec.parse("dynamic:factor=1000").to_vllm(huge, 4096, 4096)


@pytest.mark.parametrize("cfg,fragment", [
    ({"rope_theta": float("inf")}, "rope_theta"),
    ({"rope_theta": "10000"}, "rope_theta"),
    ({"rope_theta": -1.0}, "rope_theta"),
    ({"partial_rotary_factor": 0.01}, "partial_rotary_factor"),
])
def test_bad_model_configs(cfg, fragment):
    with pytest.raises(EvalError, match=fragment):
        BaseRope.from_config({"hidden_size": 128, "num_attention_heads": 2, "max_position_embeddings": 512, **cfg})


GOOD = {"short_factor": [1.0, 1.0], "long_factor": [1.5, 3.0], "original_max_position_embeddings": 4096}


@pytest.mark.parametrize("content,fragments", [
    (json.dumps([1.0, 2.0]), ["expected a JSON object", "found [1.0, 2.0]"]),
    ("null", ["expected a JSON object", "found null"]),
    ('"text"', ["expected a JSON object", 'found "text"']),
    (json.dumps({**GOOD, "factor": "4"}), ["field factor", '"4"']),
    (json.dumps({**GOOD, "factor": "abc"}), ["field factor", '"abc"']),
    (json.dumps({**GOOD, "factor": 1e300}), ["field factor", "at most"]),
    (json.dumps({**GOOD, "attention_factor": [1]}), ["field attention_factor", "[1]"]),
    (json.dumps({**GOOD, "original_max_position_embeddings": "4096"}),
     ["field original_max_position_embeddings", '"4096"']),
    (json.dumps({**GOOD, "original_max_position_embeddings": 4096.5}),
     ["field original_max_position_embeddings", "4096.5", "whole number"]),
    (json.dumps({**GOOD, "original_max_position_embeddings": True}),
     ["field original_max_position_embeddings", "true"]),
    (json.dumps({**GOOD, "long_factor": [1.5, "3"]}), ["long_factor", "entry 1", '"3"']),
    (json.dumps({**GOOD, "long_factor": None}), ["long_factor"]),
    (json.dumps({**GOOD, "short_factor": "1,1"}), ["short_factor"]),
    ('{"long_factor": [NaN, 1.0]}', ["long_factor", "NaN"]),
    (json.dumps({"rope_parameters": [1, 2]}), ["expected a JSON object", "found [1, 2]"]),
    (b"\xff\xfe\x00binary\x80", ["utf-8"]),
    ("{not json", ["cannot read"]),
])
def test_bad_factor_files(tmp_path, content, fragments):
    path = tmp_path / "factors.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    msg = _fails(f"longrope:file={path}", *fragments)
    assert str(path) in msg


def test_good_factor_file_still_reads(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"rope_scaling": {**GOOD, "factor": 8, "attention_factor": None}}))
    rope = RopeSpec.parse(f"longrope:file={path}")
    assert rope.p == {"short": (1.0, 1.0), "long": (1.5, 3.0), "original": 4096, "factor": 8.0}
    assert isinstance(rope.p["original"], int)


def test_limits_leave_real_settings_alone():
    for spec in ("yarn:factor=64", "abf:theta=1e9,max=1048576", "ntk:factor=128", "pi:factor=0.5",
                 f"longrope:long=[{LONG32}]", "llama3:factor=32"):
        rope = RopeSpec.parse(spec)
        params = rope.to_hf(BASE, 4096)["rope_parameters"]
        assert all(math.isfinite(v) for v in params.values() if isinstance(v, float))
    assert MAX_FACTOR >= 1e4
