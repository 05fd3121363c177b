"""Builds a tiny random Llama with its own BPE tokenizer: fast to make, real to load.

Random weights are enough where only agreement matters (HF vs vLLM, token
counts); accuracy checks use the trained demo model instead.
"""
from __future__ import annotations

from pathlib import Path


def build_tiny_model(folder: Path, seed: int = 0, vocab: int = 600) -> Path:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from evalsuite.workload import corpus
    from evalsuite.workload.haystacks import NOISE

    folder.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                 pre_tokenizers.ByteLevel(add_prefix_space=False)])
    tok.decoder = decoders.ByteLevel()
    text = [corpus.haystack_text(20_000, seed=s) for s in range(3)] + [NOISE * 20]
    tok.train_from_iterator(text, trainers.BpeTrainer(
        vocab_size=vocab, special_tokens=["<unk>", "<s>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B",
                                                       special_tokens=[("<s>", tok.token_to_id("<s>"))])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    fast.save_pretrained(folder)
    torch.manual_seed(seed)
    cfg = LlamaConfig(vocab_size=tok.get_vocab_size(), hidden_size=128, intermediate_size=256,
                      num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2, head_dim=64,
                      max_position_embeddings=512, rope_theta=10000.0, tie_word_embeddings=True,
                      bos_token_id=tok.token_to_id("<s>"), eos_token_id=tok.token_to_id("</s>"))
    model = LlamaForCausalLM(cfg)
    model.save_pretrained(folder)
    return folder
