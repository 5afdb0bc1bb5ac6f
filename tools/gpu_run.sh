#!/usr/bin/env bash
# What to run on a GPU machine (no vLLM, no network) from the repo root, with
# .bundle/ carried (build it first here: python3 tools/gpu_bundle.py):
#
#   bash tools/gpu_run.sh
#
# 1. installs the bundled wheels into /tmp/site and unpacks the vLLM trees into
#    /tmp/trees/vllm-<version>, byte-compiled once (-j 16);
# 2. benchmarks/verify_wall.py: the full default verify against 0.22.1 (both
#    arms, both scenarios, emulated TP=2 on one GPU) and its wall time;
# 3. verify against 0.23.0, reload scenario;
# 4. the GPU tests (pytest -m gpu).
# Logs and JSON reports go to $OUT (or /tmp/vllm-patches-gpu). Exit status: the
# worst of the steps.
set -uo pipefail
cd "$(dirname "$0")/.."

OUT=${OUT:-/tmp/vllm-patches-gpu}
mkdir -p "$OUT" /tmp/trees
export PYTHONUNBUFFERED=1 VLLM_LOGGING_LEVEL=${VLLM_LOGGING_LEVEL:-ERROR}
status=0
note() { echo; echo "=== $*"; }

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

note "benchmark: full default verify, vLLM 0.22.1"
python3 benchmarks/verify_wall.py --target /tmp/trees/vllm-0.22.1 \
    --json "$OUT/verify-0.22.1.json" 2>&1 | tee "$OUT/verify-0.22.1.txt"
rc=$?; [ $rc -gt $status ] && status=$rc

note "verify vLLM 0.23.0, reload"
python3 -m vllm_patches verify --target /tmp/trees/vllm-0.23.0 --scenario reload \
    --json "$OUT/verify-0.23.0-reload.json" 2>&1 | tee "$OUT/verify-0.23.0-reload.txt"
rc=$?; [ $rc -gt $status ] && status=$rc

note "GPU tests"
VLLM_PATCHES_GPU_TREES=$(IFS=:; echo "${trees[*]}") \
    python3 -m pytest -m gpu -v -p no:cacheprovider tests/test_verify_gpu.py 2>&1 | tee "$OUT/pytest-gpu.txt"
rc=$?; [ $rc -gt $status ] && status=$rc

note "done: exit $status; files in $OUT"
exit $status
