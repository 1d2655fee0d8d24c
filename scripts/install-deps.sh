#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine:
# Chromium + ChromeDriver (browser end-to-end tests), redis-server (Redis backend tests)
# and cargo-hack (CI's per-feature check).
# Does nothing for what is already installed.
set -euo pipefail

need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)

if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  sudo_cmd=()
  [ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${need[@]}"
fi

# The tests start their own redis-server on a random port; stop the packaged
# service so it does not sit on port 6379 for nothing.
if command -v systemctl >/dev/null 2>&1; then
  systemctl stop redis-server >/dev/null 2>&1 || true
fi

# CI checks every feature on its own with cargo-hack.
if ! cargo hack --version >/dev/null 2>&1; then
  echo "installing: cargo-hack"
  cargo install cargo-hack --locked
fi
