#!/usr/bin/env bash
# The main job on embedded defaults: SQLite in ./cati-data and the built-in simulated PBX.
# Extra arguments go to `cati demo` (e.g. --port 8000 --speed 60 --interviewers 8).
set -euo pipefail
# The explicit "" keeps this script's own arguments (--port ...) from reaching _venv.sh as its $1.
source "$(dirname "$0")/_venv.sh" ""
exec cati demo "$@"
