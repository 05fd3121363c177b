#!/usr/bin/env bash
# mypy over the package as it installs: tasks/ and reports/ import as evalsuite.tasks and
# evalsuite.reports (pyproject's package-dir), a mapping mypy cannot follow in the source tree.
# So build/typecheck/evalsuite/ is made of links to evalsuite/'s entries plus tasks -> tasks/ and
# reports -> reports/, and mypy checks that tree: every module, with no import left unresolved.
set -euo pipefail
cd "$(dirname "$0")/.."
tree=build/typecheck/evalsuite
rm -rf build/typecheck
mkdir -p "$tree"
for entry in evalsuite/*; do ln -s "../../../$entry" "$tree/$(basename "$entry")"; done
ln -s ../../../tasks "$tree/tasks"
ln -s ../../../reports "$tree/reports"
exec .venv/bin/mypy "$@"
