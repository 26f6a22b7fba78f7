"""Deployment files: install.sh (dry run), the systemd unit, the mosquitto example."""

from __future__ import annotations

import re
import shutil
import ssl
import subprocess
import tempfile
import threading
from collections import defaultdict
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.conftest import REPO, Broker, free_port

UNIT = REPO / "systemd" / "edgeocr.service"
INSTALL = REPO / "deploy" / "install.sh"
MOSQUITTO_DIR = REPO / "deploy" / "mosquitto"


def unit_settings(path: Path) -> dict[str, list[str]]:
    """Key -> values of a unit file (keys may repeat), sections ignored."""
    out: dict[str, list[str]] = defaultdict(list)
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        out[key.strip()].append(value.strip())
    return out


def test_install_dry_run_prints_every_step_and_changes_nothing() -> None:
    existed = Path("/opt/edgeocr").exists()
    proc = subprocess.run(["bash", str(INSTALL), "--dry-run", "--with-mosquitto"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for expected in (
        "apt-get install -y -q --no-install-recommends python3 python3-venv",
        "mosquitto mosquitto-clients",
        "useradd --system",
        "python3 -m venv --system-site-packages /opt/edgeocr/venv",
        f"/opt/edgeocr/venv/bin/python -m pip install -q --upgrade {REPO}",
        f"install -m 0640 -o root -g edgeocr {REPO}/deploy/config.example.toml "
        "/etc/edgeocr/config.toml",
        "/etc/mosquitto/conf.d/edgeocr.conf",
        "mosquitto_passwd -b -c /etc/mosquitto/edgeocr.passwd edgeocr",
        "openssl req -x509",
        f"install -m 0644 {UNIT} /etc/systemd/system/edgeocr.service",
        "systemctl daemon-reload",
        "systemctl enable edgeocr.service",
        "(dry run: nothing was changed)",
    ):
        assert expected in out, expected
    assert Path("/opt/edgeocr").exists() == existed
    assert not Path("/etc/systemd/system/edgeocr.service").exists() or existed


def test_install_rejects_unknown_options() -> None:
    proc = subprocess.run(["bash", str(INSTALL), "--frobnicate"], capture_output=True,
                          text=True, timeout=30)
    assert proc.returncode == 2
    assert "unknown option --frobnicate" in proc.stderr


def test_unit_file_settings() -> None:
    s = unit_settings(UNIT)
    one = {k: v[-1] for k, v in s.items()}
    assert one["Type"] == "notify"
    assert one["ExecStart"].endswith("edgeocr daemon --config /etc/edgeocr/config.toml")
    assert int(one["WatchdogSec"]) > 0
    assert one["Restart"] == "on-failure"
    assert int(one["StartLimitBurst"]) > 0 and int(one["StartLimitIntervalSec"]) > 0
    assert one["User"] == "edgeocr" and one["StateDirectory"] == "edgeocr"
    groups = " ".join(s["SupplementaryGroups"]).split()
    assert {"video", "apex", "plugdev"} <= set(groups)
    for key, value in {
        "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
        "PrivateTmp": "yes", "ProtectKernelTunables": "yes", "ProtectKernelModules": "yes",
        "ProtectKernelLogs": "yes", "LockPersonality": "yes", "MemoryDenyWriteExecute": "yes",
        "CapabilityBoundingSet": "", "DevicePolicy": "closed",
        "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
    }.items():
        assert one[key] == value, key
    assert "@system-service" in s["SystemCallFilter"]
    devices = " ".join(s["DeviceAllow"])
    for dev in ("char-video4linux", "char-media", "/dev/apex_0", "/dev/bus/usb"):
        assert dev in devices


def test_unit_security_exposure() -> None:
    exe = shutil.which("systemd-analyze")
    if exe is None:
        pytest.skip("systemd-analyze is not installed")
    proc = subprocess.run([exe, "security", "--offline=true", "--no-pager", str(UNIT)],
                          capture_output=True, text=True, timeout=60)
    text = proc.stdout + proc.stderr
    match = re.search(r"Overall exposure level for edgeocr\.service: ([0-9.]+)", text)
    assert match, text[-2000:]
    assert float(match.group(1)) <= 2.0


def _client(port: int, user: str | None = None, password: str | None = None,
            ca: Path | None = None) -> tuple[mqtt.Client, list[tuple[str, bytes]], int]:
    got: list[tuple[str, bytes]] = []
    done = threading.Event()
    result: list[int] = []
    client = mqtt.Client(CallbackAPIVersion.VERSION2)
    if user is not None:
        client.username_pw_set(user, password)
    if ca is not None:
        client.tls_set(ca_certs=str(ca), cert_reqs=ssl.CERT_REQUIRED)

    def on_connect(c: mqtt.Client, u: object, f: object, rc: object, p: object) -> None:
        result.append(0 if not rc.is_failure else 1)  # type: ignore[attr-defined]
        done.set()

    client.on_connect = on_connect
    client.on_message = lambda c, u, m: got.append((m.topic, bytes(m.payload)))
    client.connect("127.0.0.1", port, 10)
    client.loop_start()
    done.wait(10)
    return client, got, (result[0] if result else 2)


def test_mosquitto_example_config_password_acl_and_tls(tmp_path: Path) -> None:
    passwd_exe = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
    if not Path(passwd_exe).exists() or shutil.which("openssl") is None:
        pytest.skip("mosquitto_passwd or openssl missing")
    plain, tls = free_port(), free_port()
    # mosquitto started as root reads its files as the mosquitto user: not from tmp_path.
    work = Path(tempfile.mkdtemp(prefix="edgeocr-mqconf-"))
    work.chmod(0o755)
    try:
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days",
                        "2", "-subj", "/CN=localhost", "-addext",
                        "subjectAltName=DNS:localhost,IP:127.0.0.1",
                        "-keyout", str(work / "server.key"), "-out", str(work / "server.crt")],
                       check=True, capture_output=True, timeout=60)
        subprocess.run([passwd_exe, "-b", "-c", str(work / "passwd"), "edgeocr", "s3cret"],
                       check=True, capture_output=True, timeout=30)
        subprocess.run([passwd_exe, "-b", str(work / "passwd"), "viewer", "look"],
                       check=True, capture_output=True, timeout=30)
        shutil.copy(MOSQUITTO_DIR / "edgeocr.acl", work / "acl")
        conf = (MOSQUITTO_DIR / "edgeocr.conf").read_text()
        conf = (conf.replace("/etc/mosquitto/edgeocr.passwd", str(work / "passwd"))
                .replace("/etc/mosquitto/edgeocr.acl", str(work / "acl"))
                .replace("/etc/mosquitto/certs/edgeocr-server.crt", str(work / "server.crt"))
                .replace("/etc/mosquitto/certs/edgeocr-server.key", str(work / "server.key"))
                .replace("listener 1883 127.0.0.1", f"listener {plain} 127.0.0.1")
                .replace("listener 8883", f"listener {tls} 127.0.0.1"))
        assert f"listener {tls} 127.0.0.1" in conf and str(work / "passwd") in conf
        for f in work.iterdir():
            f.chmod(0o644)
        (work / "mosquitto.conf").write_text(conf + "log_dest stderr\nlog_type error\n")
        broker = Broker("127.0.0.1", plain, work / "mosquitto.conf")
        broker.start()
        try:
            anon, _, rc = _client(plain)
            anon.loop_stop()
            assert rc == 1, "anonymous client was accepted"

            viewer, seen, rc = _client(plain, "viewer", "look")
            assert rc == 0
            viewer.subscribe("edgeocr/#", qos=1)
            device, mine, rc = _client(tls, "edgeocr", "s3cret", ca=work / "server.crt")
            assert rc == 0, "TLS listener with the password did not accept the device"
            device.subscribe("edgeocr/#", qos=1)
            threading.Event().wait(0.3)
            viewer.publish("edgeocr/dev/cam/read", b"forged", qos=1).wait_for_publish(5)
            device.publish("edgeocr/dev/cam/read", b"real", qos=1).wait_for_publish(5)
            for _ in range(100):
                if seen:
                    break
                threading.Event().wait(0.05)
            threading.Event().wait(0.3)
            assert seen == [("edgeocr/dev/cam/read", b"real")]
            assert b"forged" not in [p for _, p in mine]  # the ACL drops the viewer's
            for c in (viewer, device):
                c.disconnect()
                c.loop_stop()
        finally:
            broker.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
