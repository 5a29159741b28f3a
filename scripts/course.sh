#!/usr/bin/env bash
# Set up, then open the course in JupyterLab.
#   bash scripts/course.sh              opens JupyterLab on the lessons (http://127.0.0.1:8888)
#   bash scripts/course.sh --headless   runs every lesson instead and writes executed copies to _build/
# DVAE_TUTORIAL_FAST=1 makes the lessons do less work (what CI runs).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

if [ "${1:-}" = "--headless" ]; then
  mkdir -p _build/notebooks
  for nb in notebooks/*.ipynb; do
    echo "course: running $nb"
    .venv/bin/jupyter nbconvert --to notebook --execute --ExecutePreprocessor.timeout=-1 \
      --output-dir _build/notebooks "$nb"
  done
  echo "course: executed lessons are in _build/notebooks/"
else
  extra=()
  if [ "$(id -u)" = "0" ]; then extra+=(--allow-root); fi
  exec .venv/bin/jupyter lab --ip=127.0.0.1 "${extra[@]}" notebooks/
fi
