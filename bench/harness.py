"""Start a throwaway Moorage for a benchmark and talk to it with real clients."""

from __future__ import annotations

import os
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import boto3
from botocore.config import Config

ACCOUNT_ID = "111122223333"
ACCESS_KEY_ID = "AKIAMOORAGEBENCHROOT"
SECRET_ACCESS_KEY = "moorage-bench-secret-access-key-0123456789"
REGION = "us-west-2"


class Moorage:
    def __init__(self, args: tuple[str, ...] = ()):
        """`moorage up` with ``args`` added; with ``--tls`` the URL is https and clients trust ``ca_bundle``."""
        self.workdir = Path(tempfile.mkdtemp(prefix="moorage-bench-"))
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        tls = "--tls" in args
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self.ca_bundle = self.workdir / "data" / "tls" / "ca.crt" if tls else None
        env = {
            **os.environ,
            "MOORAGE_ACCOUNT_ID": ACCOUNT_ID,
            "MOORAGE_ROOT_ACCESS_KEY_ID": ACCESS_KEY_ID,
            "MOORAGE_ROOT_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
            "AWS_CONFIG_FILE": str(self.workdir / "aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(self.workdir / "aws-credentials"),
        }
        self.log = (self.workdir / "moorage.log").open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moorage", "up", "--port", str(self.port), "--data-dir", str(self.workdir / "data"), *args],
            stdout=self.log, stderr=subprocess.STDOUT, env=env,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                context = ssl.create_default_context(cafile=str(self.ca_bundle)) if self.ca_bundle else None
                urllib.request.urlopen(f"{self.url}/_moorage/health", timeout=1, context=context)
                break
            except (OSError, ssl.SSLError):
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise SystemExit(f"moorage up did not start; see {self.workdir / 'moorage.log'}")
                time.sleep(0.05)

    def client(self, service: str):
        return boto3.client(
            service, endpoint_url=self.url, region_name=REGION, aws_access_key_id=ACCESS_KEY_ID,
            aws_secret_access_key=SECRET_ACCESS_KEY, config=Config(retries={"max_attempts": 1}),
            verify=str(self.ca_bundle) if self.ca_bundle else None,
        )

    def env(self) -> dict:
        return {
            **os.environ,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ENDPOINT_URL": self.url,
            "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
            **({"AWS_CA_BUNDLE": str(self.ca_bundle)} if self.ca_bundle else {}),
        }

    def subnets(self) -> list[str]:
        subnets = self.client("ec2").describe_subnets()["Subnets"]
        return [s["SubnetId"] for s in sorted(subnets, key=lambda s: s["AvailabilityZone"])[:2]]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(120)

    def __enter__(self) -> "Moorage":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
