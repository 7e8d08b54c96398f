#!/usr/bin/env bash
# Everything a lent GPU machine is needed for, in one call: install, the whole test suite with
# GPUIMG_REQUIRE_GPU=1, the kernels' resource report, and the GPU benchmarks (the CPU table is
# measured on the development machine: benchmarks/results/cpu-*), within one 600 s call.
#
# Here, once (writes .whl/, git-ignored, ~50 MB):   ../shared/tools/device-wheels.sh
# Then, with the device tool: run with carry [".whl"] and command
#     bash benchmarks/gpu_session.sh
# The logs land in $OUT (the device tool brings them back); commit the JSON and text tables under
# benchmarks/results/<device>-<date>/.
set -uo pipefail
out="${OUT:-benchmarks/results/local}"
mkdir -p "$out"
export PYTHONUNBUFFERED=1

python3 -m pip install -q --no-index --no-deps --no-compile --target .site .whl/*.whl || exit 1
export PYTHONPATH="$PWD/.site:${PYTHONPATH:-}"
python3 -m pip install -q --no-index --no-deps --no-build-isolation -e . || exit 1

{ nvidia-smi; python3 -c "import gpuimg.cli as c; c.main(['info'])"; } > "$out/machine.txt" 2>&1

GPUIMG_REQUIRE_GPU=1 timeout 360 python3 -m pytest -q -ra -p no:cacheprovider 2>&1 | tail -60 > "$out/pytest.txt"
NUMBA_ENABLE_CUDASIM=0 python3 -m gpuimg.kernels.ptx > "$out/ptx.txt" 2>&1
python3 benchmarks/compare.py --device cuda --repeat 10 --json "$out/compare-cuda.json" > "$out/compare-cuda.txt" 2>&1
python3 benchmarks/bench_median.py --device cuda --side 256 > "$out/median-cuda.txt" 2>&1

tail -3 "$out/pytest.txt"
cat "$out/compare-cuda.txt"
