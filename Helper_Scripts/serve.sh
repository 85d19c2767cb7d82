#!/usr/bin/env bash
# One command to run the gateway on the embedded default: SQLite, bundled tiny.en model,
# in-process worker. Extra arguments go to `stt-gateway serve` (e.g. --port 9000).
set -euo pipefail
cd "$(dirname "$0")/.."
bash Helper_Scripts/bootstrap.sh
exec .venv/bin/stt-gateway serve "$@"
