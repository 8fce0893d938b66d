#!/usr/bin/env bash
# The dashboard (and inspect --html) tests drive a real headless Chromium (Debian package `chromium`).
# Installs it when missing and we are root; otherwise says exactly what to run. Idempotent.
set -euo pipefail
for name in chromium chromium-browser; do
    if command -v "$name" >/dev/null; then
        exit 0
    fi
done
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
    echo "installing chromium (headless browser for the dashboard and HTML viewer tests)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null \
        || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; }
    exit 0
fi
echo "note: chromium is missing, so the browser tests will skip; run: sudo apt-get install -y chromium" >&2
exit 0
