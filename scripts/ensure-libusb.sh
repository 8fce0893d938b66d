#!/usr/bin/env bash
# open3d (the workstation's reference geometry) needs the system library libusb-1.0.
# Installs it when missing and we are root; otherwise says exactly what to run.
set -euo pipefail
if ldconfig -p 2>/dev/null | grep -q 'libusb-1.0.so.0'; then
    exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
    echo "installing libusb-1.0-0 (needed by open3d)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libusb-1.0-0 >/dev/null \
        || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libusb-1.0-0 >/dev/null; }
    exit 0
fi
echo "error: the system library libusb-1.0 is missing; run: sudo apt-get install -y libusb-1.0-0" >&2
exit 1
