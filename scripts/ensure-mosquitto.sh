#!/usr/bin/env bash
# The MQTT bridge's tests start a real Mosquitto broker (Debian package `mosquitto`).
# Installs it when missing and we are root; otherwise says exactly what to run. Idempotent.
set -euo pipefail
if command -v mosquitto >/dev/null || [ -x /usr/sbin/mosquitto ]; then
    exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
    echo "installing mosquitto (MQTT broker for the bridge tests)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mosquitto >/dev/null \
        || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mosquitto >/dev/null; }
    # The package enables a system-wide broker on port 1883; the tests start their own on a free port.
    if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
        systemctl disable --now mosquitto >/dev/null 2>&1 || true
    fi
    exit 0
fi
echo "error: the MQTT broker mosquitto is missing; run: sudo apt-get install -y mosquitto" >&2
exit 1
