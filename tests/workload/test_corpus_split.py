"""The demo haystack and the demo model's training corpus stay byte-identical across refactors.

The golden hashes were taken before evalsuite/corpus.py was split (training generators moved
to scripts/training_corpus.py): a change to any of them changes every demo workload, or makes
scripts/train_demo_model.py no longer reproduce the shipped model, so it must be deliberate.
"""
from __future__ import annotations

import hashlib
import random
import sys

import pytest

from evalsuite.workload import corpus, haystacks
from tests.helpers.cli import ROOT

sys.path.insert(0, str(ROOT / "scripts"))

HAYSTACK_BLOCKS = {   # sha256 of corpus.haystack_text(100_000, seed=10_000 + i): the demo haystack's blocks
    0: "4482f2eba7f24ea7cb23a3ac8c7f7d7473b1cc3e23c8ff0bc275c450ef344a91",
    1: "f92d41bae8251e2ed22b99a2df983a14637abe9699ec6e2e5194dcf310e320de",
    2: "3d7476b6bef0720c8a81995c61c5dffd7fa0557609bee6880d29d7067c20b143",
    3: "c1a31c41591f84a81b51406bd139c8702c3121de44642f46bee30209dc998a11",
}
HELDOUT_8x12000 = "cb93192c1b9ea36333dbbb54f2161029f9097c3346f5355f94f81c1cd87bf9da"
TRAINING_600 = "4eab0c7080c51173649edad694e78f0a60c1b257d65d608cf5ef32566b4110bb"
WARMUP_400 = "b45691fe08a37447f016a32a16329d1a22a62ebf1a7030e9f45d641eaf0a7254"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.mark.parametrize("i", sorted(HAYSTACK_BLOCKS))
def test_demo_haystack_blocks_are_byte_identical(i):
    assert sha(corpus.haystack_text(100_000, seed=10_000 + i)) == HAYSTACK_BLOCKS[i]


def test_heldout_documents_are_byte_identical():
    assert sha("|".join(corpus.heldout_documents(8, 12000))) == HELDOUT_8x12000


def test_training_documents_are_byte_identical():
    import train_demo_model
    import training_corpus

    rng = random.Random("tokenizer-0")                     # train_tokenizer's stream, seed 0
    docs = [training_corpus.training_document(rng, rng.randint(200, 2500)) for _ in range(600)]
    assert sha("\x00".join(docs)) == TRAINING_600
    rng = random.Random("train-0")
    docs = [training_corpus.training_document(rng, rng.randint(300, 2000), train_demo_model.WARMUP_MIX)
            for _ in range(400)]
    assert sha("\x00".join(docs)) == WARMUP_400


def test_evalsuite_corpus_holds_no_training_generators():
    assert not hasattr(corpus, "training_document") and not hasattr(corpus, "PASSKEY_INTRO")


def test_demo_fingerprint_hashes_the_generated_text(monkeypatch):
    haystacks._generated_fingerprint.cache_clear()
    text = " ".join(corpus.haystack_text(100_000, seed=10_000 + i).strip() for i in range(2))
    assert haystacks.source_fingerprint("demo") == sha(text)[:16] == haystacks.source_fingerprint(None)
    assert haystacks.source_fingerprint("noise") != haystacks.source_fingerprint("demo")
    haystacks._generated_fingerprint.cache_clear()
    monkeypatch.setattr(corpus, "haystack_text", lambda n, seed=0: f"Changed text {seed}.")
    try:
        assert haystacks.source_fingerprint("demo") != sha(text)[:16]
    finally:
        monkeypatch.undo()
        haystacks._generated_fingerprint.cache_clear()     # no changed fingerprint left for later tests
