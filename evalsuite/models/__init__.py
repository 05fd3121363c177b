"""Model checkpoints: resolving a path or hub id, checking its files, and GGUF files (metadata,
conversion to a safetensors folder)."""
