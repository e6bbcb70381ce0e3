#!/usr/bin/env bash
# The whole GPU benchmark set, in under 8 minutes on one H100/H200 (JAX with CUDA, torch; no
# TensorFlow needed). Run from the repository root:  bash benchmarks/gpu.sh
# Writes benchmarks/results/gpu-<device>.json (penalty vs copy bandwidth and torch._foreach_norm)
# and gpu-<device>-sweep.json (lambda sweeps). Never needed by the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="${PYTHONPATH:-}:."
name=$(python -c "import jax; print(jax.devices()[0].device_kind.replace(' ', '-'))")
out=${OUT:-benchmarks/results}
mkdir -p "$out"
timeout 300 python -m benchmarks._gpu --json "$out/gpu-$name.json"
timeout 150 python -m benchmarks --sections sweep --json "$out/gpu-$name-sweep.json"
echo "wrote $out/gpu-$name.json $out/gpu-$name-sweep.json"
