#!/usr/bin/env bash
# Set up the course in a project-local virtual environment (.venv). Safe to run again.
#
# torch: installs torch==2.13.0 unless .venv already has a torch. On a machine whose pip offers the
# CPU wheel (this project's CI) that is what it takes; on Linux, PyPI's torch 2.13.0 wheel carries
# CUDA. To use another build (a specific CUDA version), install it into .venv first: it is kept.
#
# DVAE_TUTORIAL_EXTRAS: the optional dependencies to install with the course [test]; scripts/test.sh asks
# for "test,sweep" (Ray Tune, for the sweep test).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-}
if [ -z "$PYTHON" ]; then
  for candidate in python3.11 python3.12 python3.10 python3; do
    if command -v "$candidate" >/dev/null 2>&1; then PYTHON=$candidate; break; fi
  done
fi
if [ -z "$PYTHON" ] || ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
  echo "setup: needs Python 3.10 or newer (3.11 recommended); set PYTHON=/path/to/python3.11" >&2
  exit 1
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi
PIP=(.venv/bin/python -m pip --disable-pip-version-check)

if .venv/bin/python -c 'import torch' >/dev/null 2>&1; then
  echo "setup: keeping the installed torch $(.venv/bin/python -c 'import torch; print(torch.__version__)')"
else
  echo "setup: installing torch==2.13.0"
  "${PIP[@]}" install -q "torch==2.13.0"
fi
EXTRAS=${DVAE_TUTORIAL_EXTRAS:-test}
echo "setup: installing dvae-tutorial and its dependencies (extras: $EXTRAS)"
"${PIP[@]}" install -q -e ".[$EXTRAS]"

# JupyterLab: no news pop-up, no update check (the course works offline)
mkdir -p .venv/share/jupyter/lab/settings
cat > .venv/share/jupyter/lab/settings/overrides.json <<'JSON'
{"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": false}}
JSON
.venv/bin/python -c 'import torch, dvae_tutorial; print(f"setup: ready (torch {torch.__version__}, CUDA available: {torch.cuda.is_available()})")'
