#!/usr/bin/env bash
# The test of `inspect --html` opens the page in a real headless browser: Debian's chromium package.
# Installs it when missing and we are root; otherwise says exactly what to run (the test then skips).
set -euo pipefail
if command -v chromium >/dev/null || command -v chromium-browser >/dev/null; then
    exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
    echo "installing chromium (headless browser for the HTML viewer test)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null \
        || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }
    exit 0
fi
echo "note: chromium is missing, so the HTML viewer test will skip; run: sudo apt-get install -y chromium" >&2
exit 0
