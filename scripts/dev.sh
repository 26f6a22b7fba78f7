#!/usr/bin/env bash
# One entry point that sets up everything on a fresh Debian machine, then runs a job.
#   bash scripts/dev.sh demo   # the main job: the whole pipeline on a sample clip
#   bash scripts/dev.sh test   # ruff + mypy + pytest
#   bash scripts/dev.sh setup  # only install (system packages, .venv)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=${EDGEOCR_VENV:-$ROOT/.venv}
APT_PACKAGES=(mosquitto mosquitto-clients tesseract-ocr
  fonts-dejavu-core fonts-liberation fonts-freefont-ttf fonts-bebas-neue fonts-league-spartan
  fonts-b612 fonts-open-sans fonts-lato fonts-ocr-b fonts-noto-core fonts-opendin)

setup_system() {
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "== installing Debian packages: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

setup_python() {
  local stamp="$VENV/.edgeocr-stamp"
  local want
  want=$(cat pyproject.toml convert/pyproject.toml scripts/dev.sh | sha256sum | cut -c1-16)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return
  fi
  echo "== creating $VENV and installing edgeocr + edgeocr-convert"
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -e ".[dev]" -e "./convert[dev]"
  echo "$want" > "$stamp"
}

job=${1:-}
shift || true
case "$job" in
  setup)
    setup_system; setup_python ;;
  demo)
    setup_system; setup_python
    exec "$VENV/bin/edgeocr" demo "$@" ;;
  test)
    setup_system; setup_python
    echo "== ruff"; "$VENV/bin/ruff" check edgeocr convert tests benchmarks
    echo "== mypy (strict, edgeocr)"; "$VENV/bin/mypy"
    echo "== pytest"; exec "$VENV/bin/python" -m pytest "$@" ;;
  *)
    echo "usage: bash scripts/dev.sh demo|test|setup [args]" >&2; exit 2 ;;
esac
