#!/usr/bin/env bash
# Every benchmark, one after another, each printing its figures and ratios (about 5 minutes).
# Name some to run only those: ./scripts/bench.sh rdd pacing ami
# The load benchmark needs the local PostgreSQL (127.0.0.1:5432).
set -euo pipefail
source "$(dirname "$0")/_venv.sh" dev
ALL=(scoring rdd pacing ami_tracker ami dialing load)
WANT=("$@")
[ ${#WANT[@]} -gt 0 ] || WANT=("${ALL[@]}")
for name in "${WANT[@]}"; do
  if [ ! -f "bench/bench_${name}.py" ]; then
    echo "error: no benchmark named ${name} (have: ${ALL[*]})" >&2
    exit 2
  fi
  echo "===== bench_${name}"
  python "bench/bench_${name}.py"
  echo
done
