#!/usr/bin/env bash
# The repository's full-mode build of the lessons' HTML pages: docs/lessons/ (index.html + one page per lesson),
# every lesson run in full mode from the current cache, images re-encoded as WebP (quality 80), and the build
# fails when the folder takes more than 15 MB.  About an hour of CPU on a 2-core machine with an empty cache.
#   scripts/build_docs.sh            # every lesson
#   scripts/build_docs.sh 02 03      # only these lessons (the index still lists all)
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${PYTHON:-python}" -m dvae_tutorial html --docs "$@"
