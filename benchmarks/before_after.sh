#!/usr/bin/env bash
# Penalty speed before and after a change, in one run:  bash benchmarks/before_after.sh REV [OUT]
# Checks REV out into a temporary worktree and runs the penalty section (value and value+grad at
# 1e7 and 1e8; one leaf, the 192-leaf mix, 1,000 leaves) of REV and of the working tree in
# alternating processes, twice each, with glibc keeping freed memory (as `make bench`'s second
# pass), then prints each jaxreg candidate's ratio to the roofline, before and after.
set -euo pipefail
cd "$(dirname "$0")/.."
rev=${1:?usage: bash benchmarks/before_after.sh REV [OUT]}
out=${2:-benchmarks/results/before-after}
PY=${PYTHON:-.venv/bin/python}
old=$(mktemp -d)/old
git worktree add --detach "$old" "$rev" >/dev/null
trap 'git worktree remove --force "$old"' EXIT
mkdir -p "$out"
export MALLOC_ARENA_MAX=1 MALLOC_MMAP_THRESHOLD_=4000000000 MALLOC_TRIM_THRESHOLD_=8000000000 \
    MALLOC_TOP_PAD_=1000000000
case $PY in /*) py=$PY ;; *) py=$(pwd)/$PY ;; esac  # absolute, not resolved: a venv's python is a link
for rep in 1 2; do
    for side in before after; do
        dir=$([ "$side" = before ] && echo "$old" || pwd)
        echo "[$(date +%T)] rep $rep: $side"
        (cd "$dir" && "$py" -m benchmarks --sections penalty --penalty-sizes 10000000 100000000 \
            --layouts one mix thousand --json "$OLDPWD/$out/$side-$rep.json") >/dev/null
    done
done
"$py" - "$out" "$rev" <<'EOF'
import json, statistics, sys
from pathlib import Path
out, rev = Path(sys.argv[1]), sys.argv[2]
def ratios(side):
    got = {}
    for path in sorted(out.glob(f"{side}-*.json")):
        for r in json.loads(path.read_text())["rows"]:
            if r.get("section") == "penalty" and r["candidate"].startswith("jaxreg"):
                key = (r["layout"], r["n"], r["mode"], r["candidate"][7:])
                got.setdefault(key, []).append(r["ratio_to_roofline"])
    return {k: statistics.median(v) for k, v in got.items()}
before, after = ratios("before"), ratios("after")
lines = [f"# Penalty ratio to the roofline: {rev} (before) vs the working tree (after)", "",
         "| layout | N | mode | penalty | before | after | after / before |", "|---|---|---|---|---|---|---|"]
for k in sorted(before):
    if k in after:
        lines.append(f"| {k[0]} | {k[1]:.0e} | {k[2]} | {k[3]} | x{before[k]:.2f} | x{after[k]:.2f} | "
                     f"{after[k] / before[k]:.3f} |")
qs = [after[k] / before[k] for k in before if k in after]
lines += ["", f"median after/before {statistics.median(qs):.3f}, worst {max(qs):.3f} over {len(qs)} cases"]
(out / "README.md").write_text("\n".join(lines) + "\n")
print("\n".join(lines))
EOF
