"""The installed toolchain (make test installs it first): every binary runs and reports its pinned version."""

import json
import subprocess
import sys

import pytest

from moorage.infra.toolchain import default_cache
from moorage.infra.toolchain.catalog import (
    KUBERNETES_COMPONENTS,
    KUBERNETES_VERSIONS,
    all_binaries,
    reported_version,
    version_command,
)

pytestmark = pytest.mark.toolchain


def moorage(*args: str, timeout: float = 1800) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "moorage", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture(scope="module")
def listing() -> dict:
    result = moorage("toolchain", "list", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_list_json_names_every_pinned_binary(listing):
    found = {(row["component"], row["version"]) for row in listing["binaries"]}
    minors = {row["version"].rsplit(".", 1)[0] for row in listing["binaries"] if row["component"] == "kube-apiserver"}
    assert minors == {v.rsplit(".", 1)[0] for v in KUBERNETES_VERSIONS} == {"1.35", "1.36", "1.37"}
    for minor_version in {v for c, v in found if c == "kube-apiserver"}:
        for component in KUBERNETES_COMPONENTS:
            assert (component, minor_version) in found
    assert any(c == "etcd" and v.startswith("3.6.") for c, v in found)
    assert any(c == "kwok" for c, v in found)
    for row in listing["binaries"]:
        assert row["installed"], f"{row['component']} {row['version']} is {row['status']}"
        assert len(row["sha256"]) == 64 and row["path"]


@pytest.mark.parametrize("binary", all_binaries(), ids=lambda b: b.key)
def test_binary_runs_and_reports_pinned_version(binary):
    entry = default_cache().verified(binary)
    assert entry is not None, f"{binary.key} missing or damaged; run `moorage toolchain install`"
    result = subprocess.run(
        [str(entry.path), *version_command(binary)], capture_output=True, text=True, timeout=60, check=False
    )
    assert reported_version(binary, result.stdout + result.stderr) == binary.version, result.stdout + result.stderr


def test_binaries_are_static():
    for binary in all_binaries():
        entry = default_cache().entry(binary)
        with open(entry.path, "rb") as handle:
            elf = handle.read(1 << 16)
        assert elf.startswith(b"\x7fELF")
        assert b"/lib64/ld-linux" not in elf, f"{binary.key} is dynamically linked"


def test_truncated_binary_is_rebuilt_by_the_next_install():
    binary = next(b for b in all_binaries() if b.component == "kube-scheduler")
    cache = default_cache()
    entry = cache.verified(binary)
    assert entry is not None
    with open(entry.path, "r+b") as handle:
        handle.truncate(entry.size // 2)
    assert cache.verified(binary) is None
    result = moorage("toolchain", "install", "--k8s-version", binary.version)
    assert result.returncode == 0, result.stderr
    assert "does not match its recorded sha256" in result.stderr
    assert "1 repaired" in result.stderr
    repaired = cache.verified(binary)
    assert repaired is not None
    version = subprocess.run([str(repaired.path), "--version"], capture_output=True, text=True, timeout=60)
    assert version.stdout.strip() == f"Kubernetes v{binary.version}"
