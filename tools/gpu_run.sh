#!/usr/bin/env bash
# What to run on a GPU machine (no vLLM, no network) from the repo root, with
# .bundle/ carried (build it first here: python3 tools/gpu_bundle.py):
#
#   bash tools/gpu_run.sh [bench] [reload] [tests]
#
# (no step named: all three; the setup always runs, so that the steps can be
# split over commands where one command's time is limited)
# 1. installs the bundled wheels into /tmp/site and unpacks the vLLM trees into
#    /tmp/trees/vllm-<version>, byte-compiled once (-j 16);
# 2. bench: benchmarks/verify_wall.py: verify gemma4-mtp-stable-lm-head with its
#    defaults (both arms, both scenarios, emulated TP=2 on one GPU) and its wall
#    time, against the newest pre-fix release of that patch (0.22.1);
# 3. reload: verify gemma4-mtp-lm-head-reload (its reload scenario) against the
#    newest release of each recorded pre-fix shape of that patch (0.28.0, 0.33.0),
#    each one the bundle has;
# 4. tests: the GPU tests (pytest -m gpu), on every bundled tree.
# The releases come from the catalogue's seen tables
# (python3 -m vllm_patches.verify.gpu.shapes), as tools/gpu_bundle.py's do.
# Logs and JSON reports go to $OUT (or /tmp/vllm-patches-gpu). Exit status: the
# worst of the steps.
set -uo pipefail
cd "$(dirname "$0")/.."

OUT=${OUT:-/tmp/vllm-patches-gpu}
mkdir -p "$OUT" /tmp/trees
export PYTHONUNBUFFERED=1 VLLM_LOGGING_LEVEL=${VLLM_LOGGING_LEVEL:-ERROR}
status=0
note() { echo; echo "=== $*"; }
steps=" ${*:-bench reload tests} "
for step in $steps; do
    case $step in bench|reload|tests) ;; *) echo "unknown step: $step (bench, reload, tests)"; exit 2;; esac
done
wanted() { [[ $steps == *" $1 "* ]]; }

note "setup"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .bundle/wheels/*.whl || exit 2
export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
trees=()
for archive in .bundle/vllm-*.tar.gz; do
    version=$(basename "$archive" .tar.gz)
    mkdir -p "/tmp/trees/$version"
    tar -xzf "$archive" -C "/tmp/trees/$version" || exit 2
    trees+=("/tmp/trees/$version")
done
start=$(date +%s.%N)
python3 -m compileall -q -j 16 /tmp/trees /tmp/site >/dev/null
echo "byte-compiled in $(python3 -c "print(round($(date +%s.%N) - $start, 1))") s"
python3 -c 'import torch; print("torch", torch.__version__, "CUDA", torch.version.cuda, "NCCL", ".".join(map(str, torch.cuda.nccl.version())))'

# The newest release of each recorded pre-fix shape of a patch, one a line.
pre_fix() { python3 -m vllm_patches.verify.gpu.shapes --pre-fix "$1"; }
bundled() { [ -d "/tmp/trees/vllm-$1" ] || { echo "vLLM $1 is not in .bundle/: skipped"; return 1; }; }

stable=$(pre_fix gemma4-mtp-stable-lm-head | tail -n 1)
reload=$(pre_fix gemma4-mtp-lm-head-reload)
[ -n "$stable" ] && [ -n "$reload" ] || { echo "no releases from the catalogue"; exit 2; }

if wanted bench; then
    note "benchmark: full default verify, vLLM $stable"
    if bundled "$stable"; then
        python3 benchmarks/verify_wall.py gemma4-mtp-stable-lm-head \
            --target "/tmp/trees/vllm-$stable" -o "$OUT/verify-$stable.json" 2>&1 \
            | tee "$OUT/verify-$stable.txt"
        rc=$?; [ $rc -gt $status ] && status=$rc
    fi
fi

if wanted reload; then
    for version in $reload; do
        note "verify vLLM $version, reload (a shape of gemma4-mtp-lm-head-reload)"
        bundled "$version" || continue
        python3 -m vllm_patches verify gemma4-mtp-lm-head-reload \
            --target "/tmp/trees/vllm-$version" -o "$OUT/verify-$version-reload.json" 2>&1 \
            | tee "$OUT/verify-$version-reload.txt"
        rc=$?; [ $rc -gt $status ] && status=$rc
    done
fi

if wanted tests; then
    note "GPU tests"
    VLLM_PATCHES_GPU_TREES=$(IFS=:; echo "${trees[*]}") \
        python3 -m pytest -m gpu -v -p no:cacheprovider tests/test_verify_gpu.py 2>&1 \
        | tee "$OUT/pytest-gpu.txt"
    rc=$?; [ $rc -gt $status ] && status=$rc
fi

note "done: exit $status; files in $OUT"
exit $status
