#!/usr/bin/env bash
# Runs the benchmarks (`make bench`). Each benchmark is a standalone script under benchmarks/
# that starts what it needs, measures its own baseline in the same run and prints a Markdown
# table; README.md ("Benchmarks") says what each one measures.
#   scripts/bench.sh                      # all of them
#   scripts/bench.sh policy_engines       # only benchmarks/policy_engines.py
#   scripts/bench.sh referral_submission  # only the end-to-end submission / inbox benchmark
# Add a benchmark by dropping a script into benchmarks/; it is picked up here.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.tools/bin:$PATH"

if [[ $# -gt 0 ]]; then
  scripts=()
  for name in "$@"; do scripts+=("benchmarks/${name%.py}.py"); done
else
  scripts=(benchmarks/*.py)
fi

for script in "${scripts[@]}"; do
  echo "[bench] ${script}"
  .venv/bin/python "$script"
  echo
done
