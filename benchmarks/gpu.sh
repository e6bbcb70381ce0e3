#!/usr/bin/env bash
# The whole accelerator benchmark set, in under 15 minutes on one H100/H200 (JAX with CUDA and
# torch; no TensorFlow needed). Run from the repository root:  bash benchmarks/gpu.sh
# Writes benchmarks/results/gpu-<device>.{json,md} (penalty value and value+grad against the
# device's copy bandwidth, and torch._foreach_norm on the same card) and
# gpu-<device>-sweep.{json,md} (lambda sweeps), gpu-<device>-prox.{json,md} (proximal maps
# against a read+write pass on the card) and gpu-<device>-hypergrad.{json,md} (one float64
# Lasso hypergradient against one solve) and gpu-<device>-linear.{json,md} (Lasso paths by
# jr.linear.path on the card against scikit-learn, celer and skglm on this host's CPU, plus a
# large n = p = 50,000 float32 path, jaxreg alone). The tests never need it; they run the same
# script in --quick mode on the CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$(command -v python3 || command -v python)}
export PYTHONPATH="${PYTHONPATH:-}:."
name=$("$PY" -c "import jax; print(jax.devices()[0].device_kind.replace(' ', '-'))")
out=${OUT:-benchmarks/results}
mkdir -p "$out"
"$PY" -c "import jax; print(jax.__version__, jax.devices())"
timeout 300 "$PY" -m benchmarks._gpu --json "$out/gpu-$name.json" --markdown "$out/gpu-$name.md"
timeout 240 "$PY" -m benchmarks --sections sweep --json "$out/gpu-$name-sweep.json" \
    --markdown "$out/gpu-$name-sweep.md"
timeout 240 "$PY" -m benchmarks --sections prox --json "$out/gpu-$name-prox.json" \
    --markdown "$out/gpu-$name-prox.md"
# float64 Lasso: the section switches x64 on itself (jax.enable_x64), on any backend
timeout 240 "$PY" -m benchmarks --sections hypergrad --json "$out/gpu-$name-hypergrad.json" \
    --markdown "$out/gpu-$name-hypergrad.md"
# Lasso paths: jaxreg on the card, the CPU libraries on the host; the large problem on the card
timeout 420 "$PY" -m benchmarks --sections linear --json "$out/gpu-$name-linear.json" \
    --markdown "$out/gpu-$name-linear.md" --plot-dir "$out/gpu-$name-linear"
echo "wrote $out/gpu-$name{,-sweep,-prox,-hypergrad,-linear}.{json,md}"
