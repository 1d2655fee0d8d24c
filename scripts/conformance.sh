#!/usr/bin/env bash
# Runs the MCP conformance suite's server scenarios (`--suite all`) against
# examples/mcp_server started on 127.0.0.1, with the baseline
# tests/conformance/expected-failures.yaml (strict both ways). Installs the
# suite and Node 22 into .tools/ first (scripts/install-conformance.sh).
#
#   scripts/conformance.sh                  # in-memory hub
#   REDIS_URL=redis://127.0.0.1:6379/ scripts/conformance.sh   # Redis hub
#
# Exit status 0 when every SSE/resumption scenario passes and the other
# failures are exactly the baseline.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-conformance.sh
# The same artifacts scripts/test.sh builds (every feature): no extra
# compile of the crate with another feature set. Without REDIS_URL the
# example's hub stays in memory.
cargo build --quiet --all-features --example mcp_server

node=.tools/conformance/node_modules/node/bin/node
suite=.tools/conformance/node_modules/@modelcontextprotocol/conformance/dist/index.js
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
target_dir="${CARGO_TARGET_DIR:-target}"
log=$(mktemp)
PORT=$port "$target_dir/debug/examples/mcp_server" >"$log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 100); do
    grep -q "mcp server:" "$log" && break
    sleep 0.1
done
grep -q "mcp server:" "$log" || { cat "$log" >&2; echo "mcp_server did not start" >&2; exit 1; }

"$node" "$suite" server --url "http://127.0.0.1:$port/mcp" --suite all \
    --expected-failures tests/conformance/expected-failures.yaml
