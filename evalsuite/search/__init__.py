"""`evalsuite search`: LongRoPE-style evolution search of per-dimension RoPE factors, scored
through the perplexity suite's public API (the one place in the core that names a suite)."""
