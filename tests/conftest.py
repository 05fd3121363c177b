import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    from tests.helpers.tiny_model import build_tiny_model
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Workload caches go to a per-session folder, never the user's home."""
    monkeypatch.setenv("EVALSUITE_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture(scope="session", params=["sentencepiece", "llama3", "gpt2bpe", "demo"])
def zoo_tokenizer(request, tmp_path_factory):
    """Each tokenizer of the matrix (tests/helpers/tokenizer_zoo.py), loaded once per session."""
    from tests.helpers import tokenizer_zoo
    return tokenizer_zoo.load(request.param, tmp_path_factory.mktemp(f"tok-{request.param}"))
