"""The shipped demo model: loads in both backends, agrees across them, and retrieves within its length."""
import json
import os

import pytest

from evalsuite.models.resolve import DEMO_MODEL, load_model_config
from evalsuite.rope import BaseRope
from tests.backends.test_backends_agree import SETTINGS, assert_backends_agree
from tests.helpers.cli import ROOT
from tests.helpers.cli import evalsuite_process as evalsuite

pytestmark = pytest.mark.skipif(not (DEMO_MODEL / "model.safetensors").exists() and not os.environ.get("CI"),
                                reason="demo model not trained yet (scripts/train_demo_model.py)")


def test_demo_model_is_small_and_plain_llama():
    cfg = load_model_config(str(DEMO_MODEL))
    assert cfg["architectures"] == ["LlamaForCausalLM"]
    assert BaseRope.from_config(cfg).head_dim == 64 and cfg["max_position_embeddings"] == 512
    assert (DEMO_MODEL / "model.safetensors").stat().st_size <= 15 * 1024 * 1024


@pytest.mark.slow
@pytest.mark.parametrize("spec,lengths", SETTINGS, ids=[s.split(",long")[0] for s, _ in SETTINGS])
def test_hf_and_vllm_agree_on_the_demo_model(spec, lengths):
    assert_backends_agree(str(DEMO_MODEL), spec, lengths)


@pytest.mark.integration
def test_within_length_passkey_and_niah_accuracy(tmp_path):
    """The default model must really retrieve within its trained length (>= 95%)."""
    for suite, extra in (("passkey", ["--samples", "20"]), ("niah", ["--depths", "20"])):
        out = tmp_path / suite
        res = evalsuite(["run", "--suite", suite, "--lengths", "512", *extra, "--no-progress", "--no-report",
                         "--out", str(out)], tmp_path)
        assert res.returncode == 0, res.stderr[-2000:]
        scores = [json.loads(x)["score"] for x in (out / "records.jsonl").read_text().splitlines()]
        assert len(scores) == 20
        assert sum(scores) / len(scores) >= 0.95, f"{suite}: {sum(scores) / len(scores):.2f}"


@pytest.mark.slow
def test_past_its_length_the_model_needs_rope_scaling(tmp_path):
    """At 8x its trained length the demo model fails unscaled and retrieves with its LongRoPE factors.

    This is the phenomenon the demo model exists to show (model card table: passkey 5% vs 100%).
    """
    factors = DEMO_MODEL / "longrope_8x.json"
    out = tmp_path / "run"
    res = evalsuite(["run", "--suite", "passkey", "--lengths", "4096", "--samples", "10", "--backend", "vllm",
                     "--rope", "none", "--rope", f"longrope:file={factors}", "--force", "--no-progress",
                     "--no-report", "--out", str(out)], tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    by_rope: dict[str, list[float]] = {}
    for line in (out / "records.jsonl").read_text().splitlines():
        rec = json.loads(line)
        by_rope.setdefault(rec["rope"].split(":")[0], []).append(rec["score"])
    assert len(by_rope["none"]) == len(by_rope["longrope"]) == 10
    assert sum(by_rope["none"]) <= 3, by_rope
    assert sum(by_rope["longrope"]) >= 8, by_rope


def test_rope_table_script_renders_summary_into_the_card(tmp_path):
    """scripts/demo_rope_table.py turns summary.csv into tables and rewrites only its own block."""
    import importlib.util

    from evalsuite.rope import RopeSpec

    spec = importlib.util.spec_from_file_location("demo_rope_table", ROOT / "scripts" / "demo_rope_table.py")
    table = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(table)
    labels = [RopeSpec.parse(s).label for s in table.SETTINGS]
    assert labels[-1].startswith("longrope:") and "dims=32" in labels[-1]
    summary = tmp_path / "summary.csv"
    rows = ["model,backend,rope,suite,task,length,metric,higher_is_better,score,samples"]
    for i, label in enumerate(reversed(labels)):            # stored order differs from SETTINGS order
        for n in table.LENGTHS:
            rows.append(f'demo,vllm,"{label}",passkey,passkey,{n},accuracy,1,{10 * i + n / 1024:.4f},20')
    summary.write_text("\n".join(rows) + "\n")
    md = table.markdown_tables(summary)
    body = [line for line in md.splitlines() if line.startswith("| `")]
    assert [line.split("`")[1] for line in body] == labels          # rows follow SETTINGS
    assert body[0] == "| `none` | 50 | 51 | 52 | 54 |"                 # none was written last (i=5)
    assert "NIAH" not in md                                           # tables only for what was run
    card = tmp_path / "CARD.md"
    card.write_text(f"intro\n{table.BEGIN}\nold\n{table.END}\noutro\n")
    table.write_card(card, md, "header")
    text = card.read_text()
    assert text.startswith("intro\n") and text.endswith("outro\n") and "old" not in text and md in text
    table.write_card(card, md, "header")
    assert card.read_text() == text                                  # idempotent
