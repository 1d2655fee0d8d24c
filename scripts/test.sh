#!/usr/bin/env bash
# Runs every test of tower-sse on a fresh machine: installs the system packages
# the tests need, then runs the whole suite with every feature.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

# Enough file descriptors for the load and soak tests.
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)" || true

# The example apps run as child processes in the end-to-end tests; `cargo test`
# builds examples only as test harnesses, so build the real binaries first.
cargo build --all-features --examples
cargo test --workspace --all-features --all-targets
cargo test --workspace --all-features --doc

# The MCP conformance suite's server scenarios against examples/mcp_server
# (installs Node 22 and the suite into .tools/ on first use).
scripts/conformance.sh

# Bounded fuzzing of the parser and of encode/parse round trips.
scripts/fuzz.sh
