#!/usr/bin/env bash
# The test tiers. `scripts/test.sh` runs the fast tier (about a minute, no engine loads);
# `scripts/test.sh all` runs ruff and mypy, then the fast, integration and slow tiers (what CI runs).
# pytest's exit code 5 (no test collected) counts as a failure: a tier that runs nothing is broken.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
tier() {      # tier NAME PYTEST-ARGS...
  local name=$1; shift
  echo "== tests: $name"
  $PY -m pytest -q -p no:cacheprovider --durations=25 "$@"
  local rc=$?
  if [ "$rc" -eq 5 ]; then
    echo "test.sh: the $name tier collected no tests; that is a failure here" >&2
    return 1
  fi
  return "$rc"
}
if [ "${1:-fast}" != all ]; then
  tier fast
  exit $?
fi
.venv/bin/ruff check evalsuite tasks reports || exit 1
bash scripts/typecheck.sh || exit 1
failed=0
tier fast || failed=1
tier integration -m integration || failed=1
tier slow -m slow || failed=1
exit "$failed"
