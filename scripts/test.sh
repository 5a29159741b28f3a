#!/usr/bin/env bash
# Set up, then run every test: the package tests, and every lesson under nbval in fast mode.
# Fails when either part fails.
set -uo pipefail
cd "$(dirname "$0")/.."
DVAE_TUTORIAL_EXTRAS=test,sweep bash scripts/setup.sh || exit 1   # sweep: Ray Tune, for tests/test_sweep.py

# the browser test drives Debian's Chromium (never a browser download); where it cannot be had, that
# one test is skipped and says why
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "test: installing Debian's chromium for the browser test"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >/dev/null 2>&1 \
      || echo "test: could not install chromium: the browser test will be skipped"
  else
    echo "test: no chromium on this machine (as root: apt-get install chromium): the browser test will be skipped"
  fi
fi

status=0
echo "== ruff (the linter; its rules are in pyproject.toml)"
.venv/bin/ruff check dvae_tutorial tests benchmarks || status=1
echo "== package tests"
.venv/bin/python -m pytest tests || status=1
echo "== lessons under nbval (DVAE_TUTORIAL_FAST=1)"
DVAE_TUTORIAL_FAST=1 .venv/bin/python -m pytest --nbval-lax --nbval-current-env notebooks/ || status=1
exit $status
