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
# PARTS picks what to run (default all, about 15 minutes at worst): a lent device's 15 minutes
# include its start-up, so a session runs the parts whose numbers are missing or stale.
PARTS=${PARTS:-"penalty sweep prox hypergrad linear"}
for part in $PARTS; do
  case $part in
    penalty) timeout 200 "$PY" -m benchmarks._gpu --json "$out/gpu-$name.json" \
        --markdown "$out/gpu-$name.md" ;;
    linear)  # jaxreg on the card; scikit-learn on the host (celer/skglm where installed)
      JAXREG_BENCH_SPARSE_TIMEOUT=${JAXREG_BENCH_SPARSE_TIMEOUT:-90} timeout 330 "$PY" \
        -m benchmarks --sections linear --json "$out/gpu-$name-linear.json" \
        --markdown "$out/gpu-$name-linear.md" --plot-dir "$out/gpu-$name-linear" ;;
    *) timeout 120 "$PY" -m benchmarks --sections "$part" --json "$out/gpu-$name-$part.json" \
        --markdown "$out/gpu-$name-$part.md" ;;
  esac || echo "part $part failed or timed out (exit $?)"
done
echo "wrote $out/gpu-$name*.{json,md}"
