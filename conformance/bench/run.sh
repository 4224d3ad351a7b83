#!/usr/bin/env bash
# Builds release binaries once and runs the benchmark at the sizes the project targets.
# Usage: conformance/bench/run.sh [N ...]   (default: 10000 100000); BENCH_DATABASE_URL=postgres://… for PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release --quiet --bin labelbook --example bench
sizes=("$@")
[[ ${#sizes[@]} -eq 0 ]] && sizes=(10000 100000)
for n in "${sizes[@]}"; do
    args=(--n "$n" --bin target/release/labelbook)
    [[ -n "${BENCH_DATABASE_URL:-}" ]] && args+=(--database-url "$BENCH_DATABASE_URL")
    target/release/examples/bench "${args[@]}"
    echo
done
