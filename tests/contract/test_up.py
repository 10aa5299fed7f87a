"""`moorage up`: the health path, clean stops on SIGINT/SIGTERM, and clear start-up errors."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest


def start(port: int, data_dir, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "moorage", "up", "--port", str(port), "--data-dir", str(data_dir), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def wait_healthy(port: int, process: subprocess.Popen, timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_moorage/health", timeout=2) as response:
                assert response.status == 200
                assert response.headers["Content-Type"].startswith("application/json")
                return json.loads(response.read())
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.05)
    raise AssertionError("moorage up did not become healthy")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_up_serves_health_and_stops_cleanly(tmp_path, free_port, signum):
    data_dir = tmp_path / "data"
    process = start(free_port, data_dir)
    try:
        body = wait_healthy(free_port, process)
        assert body["status"] == "ok"
        assert data_dir.is_dir()
        process.send_signal(signum)
        output, _ = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0
    assert f"listening on http://127.0.0.1:{free_port}" in output
    assert "Moorage stopped" in output
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"http://127.0.0.1:{free_port}/_moorage/health", timeout=2)


def test_port_in_use_is_a_clear_error(tmp_path, free_port):
    first = start(free_port, tmp_path / "a")
    try:
        wait_healthy(free_port, first)
        second = start(free_port, tmp_path / "b")
        output, _ = second.communicate(timeout=20)
        assert second.returncode == 1
        assert f"127.0.0.1:{free_port} is already in use" in output
        assert "Traceback" not in output
    finally:
        first.terminate()
        first.wait(20)


def test_data_dir_defaults_under_xdg_data_home(tmp_path, free_port):
    env = dict(os.environ, XDG_DATA_HOME=str(tmp_path / "xdg"))
    env.pop("MOORAGE_DATA_DIR", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "moorage", "up", "--port", str(free_port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )
    try:
        wait_healthy(free_port, process)
        assert (tmp_path / "xdg" / "moorage").is_dir()
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=20)
    assert str(tmp_path / "xdg" / "moorage") in output
