#!/usr/bin/env bash
# The whole check: lint, types, and the test suite on SQLite and PostgreSQL (browser tests included).
# Sets up what it needs: .venv, Debian's chromium and CJK fonts, a running PostgreSQL.
set -euo pipefail
source "$(dirname "$0")/_venv.sh" dev

# Browser tests drive Debian's chromium (never a downloaded browser).
if ! command -v chromium >/dev/null 2>&1 || [ ! -d /usr/share/fonts/opentype/noto ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null
  else
    echo "note: chromium not installed and not root; browser tests will be skipped" >&2
  fi
fi

# The announcement PDF (WeasyPrint) needs pango and a CJK font (fonts-noto-cjk, installed above).
if ! ldconfig -p 2>/dev/null | grep -q 'libpangoft2-1.0.so.0'; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libpango-1.0-0 libpangoft2-1.0-0 fonts-noto-cjk >/dev/null
  else
    echo "note: pango not installed and not root; the announcement PDF tests will fail" >&2
  fi
fi

# PostgreSQL at 127.0.0.1:5432 (trust auth, database test): start it if it is down.
if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  if command -v pg_ctlcluster >/dev/null 2>&1; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start || true
    for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
  fi
fi

echo "== ruff"
ruff check .
echo "== mypy (strict on the packages)"
mypy
echo "== pytest (SQLite and PostgreSQL)"
pytest -q -p no:cacheprovider "$@"
