#!/usr/bin/env bash
# Install edgeocr as a systemd service on Raspberry Pi OS bookworm (aarch64); works on any
# Debian 12 based system. Run from a checkout (installs that checkout) or alone (installs
# edgeocr from PyPI). Every step is printed; --dry-run prints them without doing anything.
#
#   sudo bash deploy/install.sh [--dry-run] [--with-mosquitto] [--source DIR|pypi]
#                               [--prefix /opt/edgeocr] [--start] [--no-enable]
#
# What it does: apt packages (python3-venv, python3-picamera2), a venv made with
# --system-site-packages (so picamera2/libcamera from apt are visible), edgeocr installed in
# it, the service user `edgeocr` (groups video, plus apex/plugdev for a Coral), the config in
# /etc/edgeocr (never overwritten), the systemd unit installed and enabled (started with
# --start). With --with-mosquitto also a local broker with a password, an ACL and a TLS
# listener with a self-signed certificate (deploy/mosquitto/). See docs/deploy.md.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
PREFIX=/opt/edgeocr
ETC=/etc/edgeocr
USER_NAME=edgeocr
DRY_RUN=0
WITH_MOSQUITTO=0
ENABLE=1
START=0
SOURCE=auto

usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY_RUN=1 ;;
    --with-mosquitto) WITH_MOSQUITTO=1 ;;
    --source) SOURCE=${2:?--source needs a directory or "pypi"}; shift ;;
    --prefix) PREFIX=${2:?--prefix needs a directory}; shift ;;
    --start) START=1 ;;
    --no-enable) ENABLE=0 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

VENV=$PREFIX/venv

# Print a command, then run it unless this is a dry run.
run() {
  printf '+ %s\n' "$*"
  if [ "$DRY_RUN" -eq 0 ]; then "$@"; fi
}

step() { printf '\n== %s\n' "$*"; }

if [ "$SOURCE" = auto ]; then
  if [ -f "$REPO/pyproject.toml" ] && grep -q '^name = "edgeocr"' "$REPO/pyproject.toml"; then
    SOURCE=$REPO
  else
    SOURCE=pypi
  fi
fi
if [ "$SOURCE" != pypi ] && [ ! -f "$SOURCE/pyproject.toml" ]; then
  echo "install.sh: $SOURCE: not an edgeocr checkout (no pyproject.toml)" >&2
  exit 2
fi
EXAMPLE=$REPO/deploy/config.example.toml
UNIT=$REPO/systemd/edgeocr.service
for f in "$EXAMPLE" "$UNIT"; do
  if [ ! -f "$f" ]; then echo "install.sh: $f: missing; run from an edgeocr checkout" >&2; exit 2; fi
done

if [ "$DRY_RUN" -eq 0 ] && [ "$(id -u)" -ne 0 ]; then
  echo "install.sh: run as root (sudo), or add --dry-run to see the steps" >&2
  exit 2
fi

step "checking the system"
ARCH=$(uname -m)
CODENAME=$( (. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-unknown}") || echo unknown)
echo "system: $CODENAME on $ARCH"
if [ "$ARCH" != aarch64 ] || [ "$CODENAME" != bookworm ]; then
  echo "note: written for Raspberry Pi OS bookworm aarch64; continuing on $CODENAME/$ARCH" \
       "(python3-picamera2 is skipped where apt does not have it)"
fi

step "apt packages"
APT=(python3 python3-venv python3-pip)
PIP_PINS=()
if apt-cache show python3-picamera2 >/dev/null 2>&1; then
  APT+=(python3-picamera2)
  # picamera2's apt dependencies (simplejpeg, the libcamera bindings) are built against
  # Debian's numpy 1.x and fail to import under numpy 2 ("numpy.dtype size changed"):
  # keep the venv on numpy 1.x (pip then picks an OpenCV wheel that supports it).
  PIP_PINS+=("numpy<2")
else
  echo "python3-picamera2 is not in this system's apt sources: no Pi camera support"
fi
if [ "$WITH_MOSQUITTO" -eq 1 ]; then
  APT+=(mosquitto mosquitto-clients openssl)
fi
run apt-get update -q
run env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${APT[@]}"

step "service user and groups"
# SupplementaryGroups= fails the unit when a group does not exist; apex and plugdev are the
# Coral's (PCIe and USB), so make them exist even without one.
for g in video apex plugdev; do
  if ! getent group "$g" >/dev/null; then run groupadd --system "$g"; fi
done
if ! getent passwd "$USER_NAME" >/dev/null; then
  run useradd --system --home-dir /var/lib/edgeocr --no-create-home \
      --shell /usr/sbin/nologin --groups video,apex,plugdev "$USER_NAME"
else
  run usermod --append --groups video,apex,plugdev "$USER_NAME"
fi

step "Python environment in $VENV"
run install -d -m 0755 "$PREFIX" "$PREFIX/docs"
if [ ! -x "$VENV/bin/python" ]; then
  # System site packages: picamera2 and libcamera only exist as apt packages.
  run python3 -m venv --system-site-packages "$VENV"
fi
run "$VENV/bin/python" -m pip install -q --upgrade pip
# picamera2 itself comes from apt (visible through --system-site-packages), not from PyPI.
if [ "$SOURCE" = pypi ]; then
  run "$VENV/bin/python" -m pip install -q --upgrade edgeocr ${PIP_PINS[@]+"${PIP_PINS[@]}"}
else
  run "$VENV/bin/python" -m pip install -q --upgrade "$SOURCE" ${PIP_PINS[@]+"${PIP_PINS[@]}"}
fi
if [ -f "$REPO/docs/deploy.md" ]; then
  run install -m 0644 "$REPO/docs/deploy.md" "$PREFIX/docs/deploy.md"
fi

step "configuration in $ETC"
run install -d -m 0755 "$ETC"
if [ -e "$ETC/config.toml" ]; then
  echo "$ETC/config.toml exists: left as it is (the example is $EXAMPLE)"
else
  # Group-readable by the service only: it may hold the broker password.
  run install -m 0640 -o root -g "$USER_NAME" "$EXAMPLE" "$ETC/config.toml"
fi

if [ "$WITH_MOSQUITTO" -eq 1 ]; then
  step "local mosquitto broker (password, ACL, TLS on 8883)"
  MQ=/etc/mosquitto
  run install -d -m 0755 "$MQ/conf.d" "$MQ/certs"
  run install -m 0644 "$REPO/deploy/mosquitto/edgeocr.conf" "$MQ/conf.d/edgeocr.conf"
  run install -m 0640 -o root -g mosquitto "$REPO/deploy/mosquitto/edgeocr.acl" "$MQ/edgeocr.acl"
  if [ ! -e "$ETC/mqtt-password" ]; then
    if [ "$DRY_RUN" -eq 0 ]; then
      umask 077
      head -c 24 /dev/urandom | base64 | tr -d '/+=' > "$ETC/mqtt-password"
      umask 022
    fi
    echo "+ (a random password written to $ETC/mqtt-password)"
    run chgrp "$USER_NAME" "$ETC/mqtt-password"
    run chmod 0640 "$ETC/mqtt-password"
  fi
  printf '+ mosquitto_passwd -b -c %s %s <password from %s>\n' "$MQ/edgeocr.passwd" "$USER_NAME" "$ETC/mqtt-password"
  if [ "$DRY_RUN" -eq 0 ]; then
    mosquitto_passwd -b -c "$MQ/edgeocr.passwd" "$USER_NAME" "$(cat "$ETC/mqtt-password")"
  fi
  run chown root:mosquitto "$MQ/edgeocr.passwd"
  run chmod 0640 "$MQ/edgeocr.passwd"
  if [ ! -e "$MQ/certs/edgeocr-server.crt" ]; then
    # A self-signed server certificate so the TLS listener starts; replace it with one
    # from your own CA for clients on other machines (docs/deploy.md).
    HOST=$(hostname -f 2>/dev/null || hostname)
    run openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=$HOST" \
        -addext "subjectAltName=DNS:$HOST,DNS:localhost,IP:127.0.0.1" \
        -keyout "$MQ/certs/edgeocr-server.key" -out "$MQ/certs/edgeocr-server.crt"
    run chown root:mosquitto "$MQ/certs/edgeocr-server.key"
    run chmod 0640 "$MQ/certs/edgeocr-server.key"
  fi
  run systemctl enable mosquitto
  run systemctl restart mosquitto
  echo "set in $ETC/config.toml: [mqtt] username = \"$USER_NAME\", password_file = \"$ETC/mqtt-password\""
fi

step "systemd unit"
run install -m 0644 "$UNIT" /etc/systemd/system/edgeocr.service
run systemctl daemon-reload
if [ "$ENABLE" -eq 1 ]; then
  run systemctl enable edgeocr.service
fi
if [ "$START" -eq 1 ]; then
  run "$VENV/bin/edgeocr" check-config "$ETC/config.toml"
  run systemctl restart edgeocr.service
fi

step "done"
echo "1. edit $ETC/config.toml (device_id, cameras, [mqtt]), then check it:"
echo "     sudo -u $USER_NAME $VENV/bin/edgeocr check-config $ETC/config.toml"
echo "2. start:   sudo systemctl start edgeocr   (status: systemctl status edgeocr)"
echo "3. logs:    journalctl -u edgeocr -f       reads: $VENV/bin/edgeocr watch --broker HOST:PORT"
if [ "$DRY_RUN" -eq 1 ]; then
  echo "(dry run: nothing was changed)"
fi
