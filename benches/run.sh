#!/usr/bin/env bash
# Runs the codec benchmarks RUNS times (default 3), keeps each run's criterion results, and
# prints the table of docs/BENCHMARKS.md (lowest median of the runs per cell).
# Usage: benches/run.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
target=${CARGO_TARGET_DIR:-target}
out=$(mktemp -d)
for i in $(seq 1 "$runs"); do
  echo "run $i/$runs" >&2
  cargo bench -p speakerd-benches --bench codec >"$out/run$i.log" 2>&1
  cp -r "$target/criterion" "$out/run$i"
done
python3 benches/table.py "$out"/run*/
echo "raw results: $out" >&2
