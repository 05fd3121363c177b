"""Helpers the tests share: tiny models, the tokenizer matrix, the CLI runner, a fault proxy, a browser."""
