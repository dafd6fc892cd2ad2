#!/usr/bin/env bash
# Prepares bench/gpu.py for a GPU machine that has PyTorch but not the project's other packages and cannot reach
# the data or a package index: copies the two data sets into .gpudata/ and implicit's CUDA wheels into .whl/ (both
# ignored by git, never committed), then prints the command to run there, from the project root, and what to carry.
#   bench/gpu_prepare.sh [PYTHON_VERSION]   (the GPU machine's Python, default 3.12)
set -euo pipefail
cd "$(dirname "$0")/.."
data="${RECSYS_DATA_DIR:-../shared/data}"
py="${1:-3.12}"
mkdir -p .gpudata/movielens-1m-partial .gpudata/amazon-s3rec-sequences .whl
cp "$data/movielens-1m-partial/ratings_users1-2999.dat.gz" .gpudata/movielens-1m-partial/
cp "$data/amazon-s3rec-sequences/Beauty.txt" .gpudata/amazon-s3rec-sequences/
.venv/bin/pip download -q --no-deps --only-binary=:all: --python-version "$py" \
    --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 -d .whl \
    implicit==0.7.3 rmm-cu13 librmm-cu13 rapids-logger
du -sh .gpudata .whl
cat <<'EOF'
carry: .gpudata .whl
command:
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl && nvidia-smi -L &&
  cd bench && RECSYS_DATA_DIR=../.gpudata PYTHONPATH=..:/tmp/site PYTHONUNBUFFERED=1 python3 gpu.py --out-dir $OUT
then copy gpu.json and gpu.md from the returned files into bench/results/ and commit them.
EOF
