#!/usr/bin/env bash
# Installs the MCP conformance suite (`@modelcontextprotocol/conformance`) and
# a Node >= 22 to run it into .tools/conformance (ignored by git). Idempotent:
# a second run with everything in place does nothing.
#
# Prints nothing on success; the binaries are
#   .tools/conformance/node_modules/node/bin/node
#   .tools/conformance/node_modules/@modelcontextprotocol/conformance
set -euo pipefail
cd "$(dirname "$0")/.."

CONFORMANCE_VERSION="${CONFORMANCE_VERSION:-0.1.16}"
dir=.tools/conformance
node_bin="$dir/node_modules/node/bin/node"
suite="$dir/node_modules/@modelcontextprotocol/conformance/package.json"

if [ -x "$node_bin" ] && [ -f "$suite" ] \
    && grep -q "\"version\": \"$CONFORMANCE_VERSION\"" "$suite"; then
    exit 0
fi

command -v npm >/dev/null || { echo "install-conformance: npm is required" >&2; exit 1; }
mkdir -p "$dir"
[ -f "$dir/package.json" ] || echo '{"private": true}' > "$dir/package.json"
npm install --prefix "$dir" --no-audit --no-fund --loglevel=error \
    "node@22" "@modelcontextprotocol/conformance@$CONFORMANCE_VERSION" >&2
"$node_bin" --version >/dev/null
