#!/usr/bin/env bash
# One command to run the whole test suite (installs what it needs first): lint, types, pytest.
# Extra arguments go to pytest (e.g. -k streaming, -x).
set -euo pipefail
cd "$(dirname "$0")/.."
bash Helper_Scripts/bootstrap.sh
.venv/bin/ruff check .
.venv/bin/mypy app providers schemas workers
exec .venv/bin/python -m pytest -p no:cacheprovider "$@"
