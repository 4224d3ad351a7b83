#!/usr/bin/env bash
# Bounded fuzzing of the two parsers that take whatever a client sends: the vCard parser (and what a PUT runs on a
# card: conversion both ways, the hidden-field filter) and the WebDAV XML parser (and the addressbook-query
# filter). libFuzzer through cargo-fuzz, with AddressSanitizer; the stable toolchain accepts its -Z flags with
# RUSTC_BOOTSTRAP=1. FUZZ_SECONDS per target (default 60). A crash fails the run and leaves its input under
# fuzz/artifacts/. Throughput (MB/s) is measured by the benchmark, not here.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH="${FUZZ_SECONDS:-60}"
export RUSTC_BOOTSTRAP=1
if ! cargo fuzz --version > /dev/null 2>&1; then
    cargo install --quiet --locked cargo-fuzz --version 0.13.2
fi
cargo fuzz build -O 2>&1 | tail -1
for target in vcard xml; do
    mkdir -p "fuzz/corpus/$target"
    echo "fuzzing $target for ${SECONDS_EACH} s"
    cargo fuzz run -O "$target" "fuzz/corpus/$target" "fuzz/seeds/$target" -- \
        -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -max_len=262144 -print_final_stats=1 2>&1 \
        | grep -E "^(Done|stat::number_of_executed_units|==[0-9]+==ERROR|SUMMARY)|panicked|Test unit written" || true
    # cargo fuzz exits non-zero on a crash; the pipe above hides it, so look for what it leaves.
    if compgen -G "fuzz/artifacts/$target/crash-*" > /dev/null || compgen -G "fuzz/artifacts/$target/oom-*" > /dev/null \
        || compgen -G "fuzz/artifacts/$target/timeout-*" > /dev/null; then
        echo "FAIL: fuzzing $target found an input that breaks it: $(ls fuzz/artifacts/$target)" >&2
        exit 1
    fi
done
echo "ok: fuzzed vcard and xml for ${SECONDS_EACH} s each"
