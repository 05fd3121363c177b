"""Workloads: the tokenizer wrapper, haystacks and corpora the suites build prompts from, the
verified on-disk cache of built requests and the parallel pre-build of missing entries."""
