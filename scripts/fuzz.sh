#!/usr/bin/env bash
# Short bounded fuzzing runs of every target (libFuzzer via cargo-fuzz).
# FUZZ_SECONDS sets the time per target (default 60). A crash fails the run and
# leaves the input under fuzz/artifacts/<target>/; turn it into a regression test.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds="${FUZZ_SECONDS:-60}"
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  cargo install cargo-fuzz --locked
fi
# cargo-fuzz needs nightly-only flags (sanitizers); the machine has one stable
# toolchain, which accepts them with RUSTC_BOOTSTRAP.
export RUSTC_BOOTSTRAP=1

for target in $(cargo fuzz list); do
  mkdir -p "corpus/$target"
  echo "fuzzing $target for ${seconds}s"
  cargo fuzz run "$target" "corpus/$target" "seeds/$target" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1
done
