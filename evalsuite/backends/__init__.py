"""Backends: the Backend base class (base.py), transformers (hf), vLLM in process and as managed
servers (vllm/), and OpenAI-compatible endpoints (openai, with the endpoint pool in endpoints).
Each backend imports its engine lazily, so `import evalsuite` stays light."""
