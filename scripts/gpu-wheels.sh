#!/usr/bin/env bash
# Wheels the lent GPU machines lack (their image has torch, numpy, scipy, numba, triton, onnx, onnxruntime,
# scikit-learn, rich, safetensors, prometheus-client, threadpoolctl, pyyaml, but none of these), for Python 3.12
# x86-64, into .whl/ (git-ignored), for `scripts/gpu-check.sh` to install there with no network:
#
#   scripts/gpu-wheels.sh            # then carry .whl in the device call
#
# python-lzf publishes no wheel: it is built here from its sdist with a local python3.12 (pyenv has one).
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=${DEST:-.whl}
mkdir -p "$DEST"
PLATFORMS=(--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_26_x86_64
           --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64)
pin() { sed -n "s/^ *\"\($1==[^\"]*\)\",*$/\1/p" pyproject.toml; }
WANTED=("$(pin pydantic)" "$(pin pyzmq)" "$(pin pynacl)" "$(pin pykdtree)" "$(pin paho-mqtt)"
        annotated-types typing-inspection typing-extensions cffi pycparser)
CORE=$(python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
       "${PLATFORMS[@]}" -d "$DEST" "${WANTED[0]}" 2>/dev/null; unzip -p "$DEST"/pydantic-*.whl '*/METADATA' \
       | sed -n 's/^Requires-Dist: \(pydantic-core==[^ ;]*\).*/\1/p')
for wheel in "${WANTED[@]}" "$CORE"; do
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        "${PLATFORMS[@]}" -d "$DEST" "$wheel" 2>&1 | grep -v '^WARNING' || true
done
PY312=${PY312:-}
if [[ -z "$PY312" ]]; then
    for candidate in python3.12 "$HOME"/.pyenv/versions/3.12*/bin/python; do
        if "$candidate" -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null; then PY312=$candidate; break; fi
    done
fi
if [[ -n "$PY312" ]]; then
    work=$(mktemp -d)
    python3 -m pip download -q --no-deps --no-binary=:all: -d "$work" "$(pin python-lzf)" 2>&1 | grep -v '^WARNING' || true
    "$PY312" -m pip wheel -q --no-deps "$work"/python_lzf-*.tar.gz -w "$DEST" 2>&1 | grep -v '^WARNING' || true
    rm -rf "$work"
else
    echo "no python3.12 here: python-lzf not built (edge.io.lzf, and the tests that import it, will fail there)" >&2
fi
ls -1 "$DEST"
