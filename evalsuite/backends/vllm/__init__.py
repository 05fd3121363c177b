"""vLLM: the in-process engine backend (engine) and the managed OpenAI-compatible servers
(server), sharing what both need (common)."""
