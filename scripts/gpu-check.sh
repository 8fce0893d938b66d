#!/usr/bin/env bash
# One-call GPU check: CUDA tests, `bench geometry`, `bench inspect` (100k and 1M points, plus a profiler
# trace) and `bench serve` (1 and 2 workers; each also on the BASE tree when given), tables written to $OUT. Installs nothing from the network:
# packages the machine lacks come as wheels in ./.whl (`scripts/gpu-wheels.sh` fetches them), the bundle is one trained
# beforehand (`pcinspect train --data ../shared/data/dev-bench --format real3d --class casting --quick --out .gpu-bundle`;
# `git archive HEAD edge | tar -x -C .gputree/base` for a BASE); carry .whl, .gpu-bundle and .gputree.
#
#   OUT=/tmp/out BUNDLE=path/to/bundle scripts/gpu-check.sh            # on the GPU machine
#   OUT=/tmp/out BUNDLE=... DEVICE=cpu QUICK=1 scripts/gpu-check.sh    # dry run of every step on a CPU
#
# Environment: DEVICE (cuda), BUNDLE (.gpu-bundle), OUT (./gpu-out), PYTHON (python3), QUICK=1 (few frames,
# small clouds: a dry run), FRAMES (20), WHEELS (folder of wheels, .whl), TIME_SCALE (multiplies every step's
# time limit, 1; the limits add up to about 8.5 minutes with a baseline and the sweep, so that one device call fits its lease), BASE (a folder
# holding another tree's edge/, e.g. `git archive main edge | tar -x -C .gputree/base`: its `bench inspect` runs
# on the same card for a side-by-side baseline), SERVE (worker counts for `bench serve`, "1 2"; empty skips it),
# GEOMETRY (1 runs `bench geometry`), SWEEP (log2 thresholds for `scripts/gpu-knn-sweep.py`, the neighbour search's
# brute-force/grid switch, "28 30 31"; empty skips it).
set -uo pipefail
cd "$(dirname "$0")/.."
DEVICE=${DEVICE:-cuda}
BUNDLE=${BUNDLE:-.gpu-bundle}
OUT=${OUT:-gpu-out}
PYTHON=${PYTHON:-python3}
FRAMES=${FRAMES:-20}
TIME_SCALE=${TIME_SCALE:-1}
WHEELS=${WHEELS:-.whl}
POINTS_SMALL=100000
POINTS_LARGE=1000000
BASE=${BASE:-}
SERVE=${SERVE-1 2}
GEOMETRY=${GEOMETRY:-1}
SWEEP=${SWEEP-28 30 31}
if [[ "${QUICK:-0}" == 1 ]]; then FRAMES=2; POINTS_SMALL=20000; POINTS_LARGE=50000; fi
mkdir -p "$OUT"
LOG="$OUT/log.txt"
SUMMARY="$OUT/summary.md"
: >"$LOG"
: >"$SUMMARY"
export PYTHONUNBUFFERED=1

say() { echo "== $*" | tee -a "$LOG"; }

# step NAME SECONDS CMD...: run with a time limit, log everything, record pass/fail in the summary.
step() {
    local name=$1 limit=$(( $2 * TIME_SCALE )); shift 2
    say "$name (limit $limit s): $*"
    local start=$SECONDS
    timeout "$limit" "$@" >>"$LOG" 2>&1
    local rc=$?
    echo "| $name | rc $rc | $((SECONDS - start)) s |" >>"$SUMMARY"
    say "$name: rc $rc in $((SECONDS - start)) s"
}

# Wheels the machine lacks, then the package's entry points (the CLI finds its sub-commands through them).
SITE=$(mktemp -d)
if compgen -G "$WHEELS/*.whl" >/dev/null; then
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" "$WHEELS"/*.whl \
        >>"$LOG" 2>&1 || { say "wheel install failed"; exit 1; }
fi
"$PYTHON" - "$SITE" <<'EOF' || { say "entry points failed"; exit 1; }
import sys, tomllib, pathlib
project = tomllib.loads(pathlib.Path("pyproject.toml").read_text())["project"]
info = pathlib.Path(sys.argv[1]) / f"{project['name']}-{project['version']}.dist-info"
info.mkdir(parents=True, exist_ok=True)
(info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n")
groups = project.get("entry-points", {})
text = "".join(f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in entries.items()) + "\n" for group, entries in groups.items())
(info / "entry_points.txt").write_text(text)
EOF
export PYTHONPATH="$PWD:$SITE${PYTHONPATH:+:$PYTHONPATH}"
PCI=("$PYTHON" -m edge)

echo "# gpu-check: device $DEVICE, bundle $BUNDLE, $FRAMES frames per run" >>"$SUMMARY"
echo "| step | result | wall |" >>"$SUMMARY"
echo "|---|---|---|" >>"$SUMMARY"
{ nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm --format=csv 2>/dev/null || echo "no nvidia-smi"
  "$PYTHON" -c "import torch, sys; print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.cuda.is_available() and torch.cuda.get_device_name(0))"
  "$PYTHON" -c "from edge.geometry import compiled; print('numba kernels', compiled.AVAILABLE)"
  nproc; } >"$OUT/env.txt" 2>&1
cat "$OUT/env.txt" >>"$LOG"

CUDA_TESTS=(tests/geometry/test_cuda_parity.py tests/test_cuda_frame.py
            tests/scoring/test_ocsvm.py::test_cuda_evaluation_matches_cpu_in_float64)
step "cuda tests" 90 "$PYTHON" -m pytest -q -p no:cacheprovider "${CUDA_TESTS[@]}" -rs
step "bench inspect" 100 "${PCI[@]}" bench inspect --bundle "$BUNDLE" --device "$DEVICE" --points $POINTS_SMALL $POINTS_LARGE \
    --frames "$FRAMES" --json --profile "$OUT/trace.json" --sync-report "$OUT/syncs.txt"
[[ -f "$OUT/trace.json" ]] && gzip -f "$OUT/trace.json"
[[ -f "$OUT/trace.json.gz" ]] && "$PYTHON" scripts/trace-stages.py "$OUT/trace.json.gz" >"$OUT/.stages.md" 2>>"$LOG"
if [[ -n "$BASE" ]]; then
    say "baseline tree $BASE"
    # run from inside BASE: `python -m` puts the working directory first on the path
    step "bench inspect (baseline)" 100 env -C "$BASE" "${PCI[@]}" bench inspect --bundle "$(realpath "$BUNDLE")" \
        --device "$DEVICE" --points $POINTS_SMALL $POINTS_LARGE --frames "$FRAMES" --json \
        --profile "$(realpath "$OUT")/base-trace.json"
    env -C "$BASE" "$PYTHON" -c "import edge; print('baseline edge from', edge.__file__)" >>"$LOG" 2>&1
    [[ -f "$OUT/base-trace.json" ]] && gzip -f "$OUT/base-trace.json"
fi
for workers in $SERVE; do
    [[ -n "$BASE" ]] && say "new tree"
    step "bench serve $workers worker(s)" 35 "${PCI[@]}" bench serve --bundle "$BUNDLE" --device "$DEVICE" \
        --points $POINTS_SMALL --frames "$FRAMES" --workers $workers
    if [[ -n "$BASE" ]]; then
        say "baseline tree $BASE"
        step "bench serve $workers worker(s) (baseline)" 35 env -C "$BASE" "${PCI[@]}" bench serve \
            --bundle "$(realpath "$BUNDLE")" --device "$DEVICE" --points $POINTS_SMALL --frames "$FRAMES" --workers $workers
    fi
done

[[ -n "$SWEEP" ]] && step "knn sweep" 120 "$PYTHON" scripts/gpu-knn-sweep.py --bundle "$BUNDLE" --device "$DEVICE" \
    --points $POINTS_SMALL $POINTS_LARGE --frames "$FRAMES" --rounds 2 --log2 $SWEEP

[[ "$GEOMETRY" == 1 ]] && step "bench geometry" 45 "${PCI[@]}" bench geometry --points $POINTS_SMALL \
    --device "${DEVICE%%:*}" --repeat 5

# Tables last: the inspect runs' JSON lines and the serve rates, as markdown.
"$PYTHON" - "$LOG" >>"$SUMMARY" <<'EOF'
import json, re, sys
lines = open(sys.argv[1], encoding="utf-8", errors="replace").read().splitlines()
print("\n| tree | points | p50 ms | p99 ms | frames/s | stages (p50 ms) | decisions |\n|---|---:|---:|---:|---:|---|---|")
tree = "new"
for line in lines:
    if line.startswith("== baseline tree"):
        tree = "baseline"
    elif line.startswith("== new tree"):
        tree = "new"
    if line.startswith("{") and '"stage_ms_p50"' in line:
        r = json.loads(line)
        stages = sorted(r["stage_ms_p50"].items(), key=lambda kv: -kv[1])
        print(f"| {tree} | {r['points']} | {r['ms']['p50']:.1f} | {r['ms']['p99']:.1f} | {r['frames_per_s']:.1f} | "
              + ", ".join(f"{k} {v:.1f}" for k, v in stages) + f" | {r['decisions']} |")
print()
for line in lines:
    if re.search(r"sustained .* frames/s|pcinspect bench serve:|^\│ (end-to-end|in service)|^[│|] (knn|fps|normals|fpfh|voxel|outlier|agcs|grouping|alignment)|^== baseline|^== new tree|runs eagerly", line):
        print("    " + line)
EOF

[[ -s "$OUT/.stages.md" ]] && { echo; cat "$OUT/.stages.md"; } >>"$SUMMARY" && rm -f "$OUT/.stages.md"
sed -n '/^| points | brute force\|^| [0-9]* | 2^\|raw scores of 3 frames/p' "$LOG" | sed 's/^/    /' >>"$SUMMARY"
[[ -f "$OUT/syncs.txt" ]] && { echo; echo "Host synchronisations per call site (new tree, one frame):"; echo; sed 's/^/    /' "$OUT/syncs.txt" | head -30; } >>"$SUMMARY"
cat "$SUMMARY"
