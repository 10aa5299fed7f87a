"""The toolchain's cache, download source and installer, against a local HTTP release mirror."""

import hashlib
import io
import json
import multiprocessing
import tarfile
import threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from moorage.infra.progress import Reporter
from moorage.infra.toolchain.cache import ToolchainCache
from moorage.infra.toolchain.catalog import Binary
from moorage.infra.toolchain.download import ReleaseDownloader, ReleaseMirrors
from moorage.infra.toolchain.install import Installer, SourcePolicy, ToolchainError

APISERVER = Binary("kube-apiserver", "1.37.2", "kubernetes")
KUBECTL = Binary("kubectl", "1.37.2", "kubernetes")
ETCD = Binary("etcd", "3.6.16", "etcd")
KWOK = Binary("kwok", "0.8.0", "kwok")


def executable(prints: str) -> bytes:
    """A tiny program standing in for a release artifact: it prints a version line."""
    return f"#!/bin/sh\necho '{prints}'\n".encode()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Mirror:
    """A release mirror laid out like dl.k8s.io and etcd's GitHub releases."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.hits: Counter = Counter()
        mirror = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                mirror.hits[self.path] += 1
                body = mirror.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def add_kubernetes(self, binary: Binary, body: bytes, published_sha: str | None = None):
        path = f"/k8s/v{binary.version}/bin/linux/amd64/{binary.component}"
        self.files[path] = body
        self.files[path + ".sha256"] = (published_sha or sha(body)).encode()

    def add_etcd(self, binary: Binary, body: bytes, published_sha: str | None = None):
        stem = f"etcd-v{binary.version}-linux-amd64"
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
            info = tarfile.TarInfo(f"{stem}/etcd")
            info.size, info.mode = len(body), 0o755
            archive.addfile(info, io.BytesIO(body))
        tarball = buffer.getvalue()
        self.files[f"/etcd/v{binary.version}/{stem}.tar.gz"] = tarball
        other = "0" * 64 + f"  etcd-v{binary.version}-darwin-arm64.zip\n"
        self.files[f"/etcd/v{binary.version}/SHA256SUMS"] = (
            other + f"{published_sha or sha(tarball)}  {stem}.tar.gz\n"
        ).encode()

    def downloader(self) -> ReleaseDownloader:
        return ReleaseDownloader(ReleaseMirrors(kubernetes=self.url + "/k8s", etcd=self.url + "/etcd"), arch="amd64")

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class NoBuilder:
    """The Go build source, asserted unused when every artifact is downloadable."""

    name = "build"

    def __init__(self):
        self.calls = []

    def available(self):
        return True

    def workspace(self, product, version):
        return Path("/nonexistent")

    def prepare(self, product, version):
        return self.workspace(product, version)

    def build(self, binaries, outdir, on_progress=None):
        self.calls.append(list(binaries))
        raise AssertionError("the build source should not be used here")


@pytest.fixture
def mirror():
    m = Mirror()
    m.add_kubernetes(APISERVER, executable("Kubernetes v1.37.2"))
    m.add_kubernetes(KUBECTL, executable("Client Version: v1.37.2"))
    m.add_etcd(ETCD, executable("etcd Version: 3.6.16"))
    yield m
    m.close()


def installer(cache_root: Path, mirror: Mirror, builder=None, policy=SourcePolicy.AUTO) -> Installer:
    return Installer(
        ToolchainCache(cache_root), policy=policy, downloader=mirror.downloader(),
        builder=builder or NoBuilder(), reporter=Reporter(quiet=True),
    )


def test_download_verifies_and_caches(tmp_path, mirror):
    result = installer(tmp_path, mirror).install([APISERVER, KUBECTL, ETCD])
    assert sorted(b.component for b in result.downloaded) == ["etcd", "kube-apiserver", "kubectl"]
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    for binary in (APISERVER, KUBECTL, ETCD):
        record = manifest[binary.key]
        path = tmp_path / "bin" / binary.component / binary.version / binary.component
        assert record["sha256"] == sha(path.read_bytes())
        assert record["source"] == "download"


def test_second_install_is_a_cache_hit(tmp_path, mirror):
    installer(tmp_path, mirror).install([APISERVER, ETCD])
    before = sum(mirror.hits.values())
    result = installer(tmp_path, mirror).install([APISERVER, ETCD])
    assert result.from_cache == [APISERVER, ETCD]
    assert not result.downloaded and not result.built
    assert sum(mirror.hits.values()) == before


@pytest.mark.parametrize("binary", [APISERVER, ETCD])
def test_wrong_checksum_fails_clearly_and_caches_nothing(tmp_path, binary):
    m = Mirror()
    try:
        if binary.product == "etcd":
            m.add_etcd(binary, executable("etcd Version: 3.6.16"), published_sha="ab" * 32)
        else:
            m.add_kubernetes(binary, executable("Kubernetes v1.37.2"), published_sha="ab" * 32)
        with pytest.raises(ToolchainError, match="published checksum is abab"):
            installer(tmp_path, m).install([binary])
    finally:
        m.close()
    assert not (tmp_path / "manifest.json").exists()
    assert not list((tmp_path / "bin").rglob("*")) if (tmp_path / "bin").exists() else True
    assert not any((tmp_path / "tmp").iterdir())


def test_truncated_binary_is_detected_and_replaced(tmp_path, mirror):
    installer(tmp_path, mirror).install([APISERVER])
    path = tmp_path / "bin/kube-apiserver/1.37.2/kube-apiserver"
    original = path.read_bytes()
    path.write_bytes(original[:10])
    assert ToolchainCache(tmp_path).verified(APISERVER) is None
    result = installer(tmp_path, mirror).install([APISERVER])
    assert result.repaired == [APISERVER] and result.downloaded == [APISERVER]
    assert path.read_bytes() == original


def test_same_size_corruption_is_detected(tmp_path, mirror):
    installer(tmp_path, mirror).install([APISERVER])
    path = tmp_path / "bin/kube-apiserver/1.37.2/kube-apiserver"
    data = bytearray(path.read_bytes())
    data[-2] ^= 0xFF
    path.write_bytes(bytes(data))
    assert ToolchainCache(tmp_path).verified(APISERVER) is None


def test_damaged_manifest_means_reinstall(tmp_path, mirror):
    installer(tmp_path, mirror).install([APISERVER])
    (tmp_path / "manifest.json").write_text("{not json")
    result = installer(tmp_path, mirror).install([APISERVER])
    assert result.downloaded == [APISERVER]


def test_binary_reporting_wrong_version_is_refused(tmp_path):
    m = Mirror()
    try:
        m.add_kubernetes(APISERVER, executable("Kubernetes v0.0.0-master+$Format:%H$"))
        with pytest.raises(ToolchainError, match="reports version 0.0.0, expected 1.37.2"):
            installer(tmp_path, m).install([APISERVER])
    finally:
        m.close()
    assert ToolchainCache(tmp_path).entry(APISERVER) is None


VERSION_LINES = {
    "kube-apiserver": "Kubernetes v{}",
    "kubectl": "Client Version: v{}",
    "etcd": "etcd Version: {}",
    "kwok": "kwok version v{} go1.26.8 (linux/amd64)",
}


class RecordingBuilder(NoBuilder):
    def build(self, binaries, outdir, on_progress=None):
        self.calls.append(list(binaries))
        outdir.mkdir(parents=True, exist_ok=True)
        built = {}
        for binary in binaries:
            path = outdir / binary.component
            path.write_bytes(executable(VERSION_LINES[binary.component].format(binary.version)))
            built[binary] = path
        return built


def test_offline_falls_back_to_go_build(tmp_path):
    closed = Mirror()
    closed.close()  # nothing listens any more: downloads are refused at once
    builder = RecordingBuilder()
    result = installer(tmp_path, closed, builder=builder).install([KWOK, ETCD])
    assert sorted(b.component for b in result.built) == ["etcd", "kwok"]
    assert ToolchainCache(tmp_path).entry(ETCD).source == "build"


def test_download_policy_without_network_fails(tmp_path):
    closed = Mirror()
    closed.close()
    with pytest.raises(ToolchainError, match="cannot download etcd 3.6.16"):
        installer(tmp_path, closed, policy=SourcePolicy.DOWNLOAD).install([ETCD])


def test_build_policy_never_downloads(tmp_path, mirror):
    builder = RecordingBuilder()
    installer(tmp_path, mirror, builder=builder, policy=SourcePolicy.BUILD).install([KWOK])
    assert builder.calls == [[KWOK]]
    assert sum(mirror.hits.values()) == 0


def test_builds_are_grouped_per_product_and_version(tmp_path):
    closed = Mirror()
    closed.close()
    builder = RecordingBuilder()
    other = Binary("kube-apiserver", "1.36.3", "kubernetes")
    installer(tmp_path, closed, builder=builder).install([APISERVER, KUBECTL, other])
    assert sorted(len(call) for call in builder.calls) == [1, 2]


def _install_in_process(cache_root: str, k8s_url: str, etcd_url: str, barrier) -> None:
    barrier.wait()
    downloader = ReleaseDownloader(ReleaseMirrors(kubernetes=k8s_url, etcd=etcd_url), arch="amd64")
    Installer(
        ToolchainCache(Path(cache_root)), downloader=downloader, builder=NoBuilder(), reporter=Reporter(quiet=True)
    ).install([APISERVER, KUBECTL, ETCD])


def test_concurrent_installs_take_turns(tmp_path, mirror):
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(3)
    processes = [
        context.Process(
            target=_install_in_process, args=(str(tmp_path), mirror.url + "/k8s", mirror.url + "/etcd", barrier)
        )
        for _ in range(3)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
        assert process.exitcode == 0
    # Each artifact was fetched once: the other installers waited for the lock, then hit the cache.
    assert all(count == 1 for count in mirror.hits.values()), mirror.hits
    cache = ToolchainCache(tmp_path)
    assert all(cache.verified(b) for b in (APISERVER, KUBECTL, ETCD))
