#!/usr/bin/env bash
# The GPU check, for a bare machine with no network: python3, numpy, cupy, torch,
# pytest and hypothesis installed, the rest as wheel files in .whl/.
#
#     bash scripts/gpu_check.sh OUT_DIR
#
# 1. installs .whl/*.whl into a scratch folder (pip --no-index --no-deps --target),
#    puts the repository and that folder on PYTHONPATH;
# 2. runs the test suite with --backend cupy, then --backend torch;
# 3. mixed precision: `polygrad train --amp fp16` on the GPU (cupy, else torch) and
#    benchmarks/bench_amp.py (float32 vs bf16/fp16 step time and memory; the test sessions compare
#    autocast on the GPU with torch's CUDA autocast in tests/test_amp.py);
# 4. runs benchmarks/bench_devices.py (numpy CPU vs cupy vs torch CPU/CUDA, eager and pg.compile'd,
#    fused into CuPy kernels on cupy); the test sessions run tests/test_compile.py on the GPU too;
#    then benchmarks/bench_models.py --gpu (GPT, MNIST CNN, LSTM and GRU LMs, DCGAN generator, LeNet with
#    average pooling: PyTorch CUDA vs polygrad on torch cuda:0 and cupy, eager and compiled).
# .whl/ is git-ignored: a runner that copies the working tree must carry it along.
# Every log and result lands in OUT_DIR, with a summary.txt. Something missing is
# recorded and the script goes on; it exits nonzero only when a test session fails
# (or times out). Without a GPU the cupy session reports skips and exits 0.
#
# Environment: PYTHON (default python3); GPU_CHECK_BUDGET (seconds for the whole script,
# default 570: every step gets at most what is left), GPU_CHECK_TEST_TIMEOUT (per test
# session, default 210), GPU_CHECK_BENCH_TIMEOUT (default 150), GPU_CHECK_BENCH_REPEATS (default 5).
set -u

OUT=${1:?usage: bash scripts/gpu_check.sh OUT_DIR}
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd)
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
PY=${PYTHON:-python3}
SITE=$(mktemp -d "${TMPDIR:-/tmp}/polygrad-site.XXXXXX")
SUMMARY=$OUT/summary.txt
: >"$SUMMARY"
failed=0
deadline=$((SECONDS + ${GPU_CHECK_BUDGET:-570}))

note() { echo "$*" | tee -a "$SUMMARY"; }

if ! command -v timeout >/dev/null; then
    note "timeout: not available, steps run without a time limit"
    timeout() { shift; "$@"; }
fi

# step NAME LIMIT COMMAND...: run COMMAND into OUT/NAME.log under a time limit (LIMIT, or
# what is left of the budget), record its exit
step() {
    local name=$1 limit=$2 start=$SECONDS rc
    shift 2
    ((limit < deadline - SECONDS)) || limit=$((deadline - SECONDS > 1 ? deadline - SECONDS : 1))
    timeout "$limit" "$@" >"$OUT/$name.log" 2>&1
    rc=$?
    if ((rc == 124)); then
        note "$name: timed out after ${limit}s"
    else
        note "$name: exit $rc after $((SECONDS - start))s"
    fi
    return $rc
}

{
    date -u
    uname -a
    nvidia-smi || echo "nvidia-smi: not available"
    "$PY" --version
    "$PY" -m pip list || echo "pip: not available"
} >"$OUT/environment.txt" 2>&1

shopt -s nullglob
wheels=(.whl/*.whl)
if ((${#wheels[@]} == 0)); then
    note "wheels: none in .whl/, using what is installed"
elif "$PY" -m pip --version >/dev/null 2>&1; then
    step install-wheels 120 "$PY" -m pip install --no-index --no-deps --target "$SITE" "${wheels[@]}"
else
    note "wheels: pip not available, unpacking them (they are pure Python)"
    for wheel in "${wheels[@]}"; do
        "$PY" -m zipfile -e "$wheel" "$SITE" || note "wheels: could not unpack $wheel"
    done
fi
# the repository first: the working tree is what is tested, even if a polygrad wheel came along
export PYTHONPATH="$REPO:$SITE${PYTHONPATH:+:$PYTHONPATH}"

step polygrad-info 120 "$PY" -m polygrad info
cat "$OUT/polygrad-info.log" >>"$SUMMARY"
if command -v nvidia-smi >/dev/null && grep -q "^cupy .*unavailable" "$OUT/polygrad-info.log"; then
    note "warning: nvidia-smi is here but the cupy backend is not: the cupy session will only skip"
fi

if "$PY" -c "import pytest" >/dev/null 2>&1; then
    for backend in cupy torch; do
        step "pytest-$backend" "${GPU_CHECK_TEST_TIMEOUT:-210}" \
            "$PY" -m pytest --backend "$backend" -q -p no:cacheprovider --durations=10 \
            --junitxml "$OUT/pytest-$backend.xml"
        rc=$?
        tail -n 1 "$OUT/pytest-$backend.log" >>"$SUMMARY"
        ((rc == 0 || rc == 5)) || failed=1  # 5: no tests collected
    done
else
    note "pytest: not available, tests not run"
fi

amp_backend=cupy
grep -q "^cupy .*unavailable" "$OUT/polygrad-info.log" && amp_backend=torch
amp_limit=${GPU_CHECK_AMP_TIMEOUT:-90}
step train-amp $((amp_limit / 3)) "$PY" -m polygrad train --backend "$amp_backend" --device cuda --epochs 2 --amp fp16 \
    --out "$OUT/train-amp" || note "train-amp: failed on $amp_backend (recorded; not a test failure)"
step bench-amp $((amp_limit * 2 / 3)) "$PY" benchmarks/bench_amp.py --repeats 3 --out "$OUT/bench" \
    || note "bench-amp: failed (recorded; not a test failure)"

step bench-devices "${GPU_CHECK_BENCH_TIMEOUT:-150}" \
    "$PY" benchmarks/bench_devices.py --repeats "${GPU_CHECK_BENCH_REPEATS:-5}" --out "$OUT/bench" \
    || note "bench-devices: failed (recorded; not a test failure)"

step bench-models "${GPU_CHECK_BENCH_TIMEOUT:-150}" \
    "$PY" benchmarks/bench_models.py --gpu --models gpt,cnn,lstm,gru,dcgan,avgcnn --rounds "${GPU_CHECK_BENCH_REPEATS:-5}" --out "$OUT/bench" \
    || note "bench-models: failed (recorded; not a test failure)"

rm -rf "$SITE"
note "gpu_check: $( ((failed)) && echo "FAILED: a test session failed or timed out" || echo "ok")"
exit $failed
