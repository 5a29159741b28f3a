#!/usr/bin/env bash
# Set up, then run every test: the package tests, and every lesson under nbval in fast mode.
# Fails when either part fails.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1

status=0
echo "== package tests"
.venv/bin/python -m pytest tests || status=1
echo "== lessons under nbval (DVAE_TUTORIAL_FAST=1)"
DVAE_TUTORIAL_FAST=1 .venv/bin/python -m pytest --nbval-lax --nbval-current-env notebooks/ || status=1
exit $status
