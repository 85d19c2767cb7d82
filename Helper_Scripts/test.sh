#!/usr/bin/env bash
# One command to run the whole test suite (installs what it needs first): lint, types, the
# import-layer contracts (pyproject.toml [tool.importlinter]), pytest.
# Extra arguments go to pytest (e.g. -k streaming, -x).
# PostgreSQL and Redis: the servers at STT_TEST_POSTGRES_URL / STT_TEST_REDIS_URL (default:
# the local standard ports) when they answer, else throw-away ones started for this run and
# stopped when it ends (Helper_Scripts/test_services.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bash Helper_Scripts/bootstrap.sh
.venv/bin/ruff check .
.venv/bin/mypy app providers schemas workers
.venv/bin/lint-imports
source Helper_Scripts/test_services.sh
trap stop_test_services EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
start_test_services || exit 1
status=0
.venv/bin/python -m pytest -p no:cacheprovider "$@" || status=$?
exit "$status"
