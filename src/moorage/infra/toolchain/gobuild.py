"""Source 2: build upstream binaries from Go modules with the local `go` toolchain.

One wrapper module per product and version, generated under the cache's build/ directory:

* Kubernetes: k8s.io/kubernetes cannot be `go install`ed (its go.mod replaces every staging module
  with ./staging/...). The wrapper requires k8s.io/kubernetes vX.Y.Z and replaces every staging
  module it names with the published k8s.io/<module> v0.Y.Z, read from that version's own go.mod.
* etcd: go.etcd.io/etcd/server/v3 has local replaces too, but its requires are real versions, so a
  wrapper with no replaces works.
* kwok: a plain wrapper requiring sigs.k8s.io/kwok.

All binaries are static (CGO_ENABLED=0) and stamped with their version, as upstream's release
builds are (hack/lib/golang.sh, scripts/build_lib.sh).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .catalog import Binary, Version

# Measured cold builds on the project's 2-core machines (docs/toolchain.md has the details).
FIRST_BUILD_MINUTES = {"kubernetes": 9, "etcd": 2, "kwok": 3}

_STAGING_REPLACE = re.compile(r"^\s*(?:replace\s+)?(k8s\.io/[\w.\-/]+)\s+=>\s+\./staging/", re.MULTILINE)
_GODEBUG = re.compile(r"^godebug\s+default=(go[\d.]+)", re.MULTILINE)

PACKAGES = {
    "kube-apiserver": "k8s.io/kubernetes/cmd/kube-apiserver",
    "kube-controller-manager": "k8s.io/kubernetes/cmd/kube-controller-manager",
    "kube-scheduler": "k8s.io/kubernetes/cmd/kube-scheduler",
    "kubelet": "k8s.io/kubernetes/cmd/kubelet",
    "kubectl": "k8s.io/kubernetes/cmd/kubectl",
    "etcd": "go.etcd.io/etcd/server/v3",
    "kwok": "sigs.k8s.io/kwok/cmd/kwok",
}

ProgressCallback = Callable[[int, int | None], None]


class GoBuildError(Exception):
    """`go` failed; the message carries the command and the tail of its output."""


def staging_modules(kubernetes_go_mod: str) -> list[str]:
    """Every module k8s.io/kubernetes's go.mod maps to its ./staging tree, in file order."""
    seen: list[str] = []
    for module in _STAGING_REPLACE.findall(kubernetes_go_mod):
        if module not in seen:
            seen.append(module)
    return seen


def godebug_default(go_mod: str) -> str | None:
    match = _GODEBUG.search(go_mod)
    return match.group(1) if match else None


def kubernetes_ldflags(version: Version, build_date: str) -> str:
    flags = ["-s", "-w", "-buildid="]
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        values = {
            "gitVersion": f"v{version}",
            "gitMajor": str(version.major),
            "gitMinor": str(version.minor),
            "gitTreeState": "clean",
            "buildDate": build_date,
        }
        flags.extend(f"-X {package}.{name}={value}" for name, value in values.items())
    return " ".join(flags)


@dataclass
class GoModuleBuilder:
    """Builds binaries of one product at one version inside a generated wrapper module."""

    workspace_root: Path
    go: str = "go"
    name = "build"

    def supports(self, binary: Binary) -> bool:
        return binary.component in PACKAGES

    def available(self) -> bool:
        return shutil.which(self.go) is not None

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["CGO_ENABLED"] = "0"
        env.setdefault("GOFLAGS", "-buildvcs=false")
        return env

    def _go(self, args: list[str], cwd: Path) -> str:
        result = subprocess.run(
            [self.go, *args], cwd=cwd, env=self._env(), capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-20:])
            raise GoBuildError(f"`go {' '.join(args)}` failed in {cwd}:\n{tail}")
        return result.stdout

    def workspace(self, product: str, version: str) -> Path:
        return self.workspace_root / f"{product}-v{version}"

    def prepare(self, product: str, version: str) -> Path:
        """Generate (once) the wrapper module for a product version; returns its directory."""
        workdir = self.workspace(product, version)
        marker = workdir / ".prepared"
        if marker.exists():
            return workdir
        if workdir.exists():
            shutil.rmtree(workdir)
        workdir.mkdir(parents=True)
        self._go(["mod", "init", f"moorage.local/toolchain/{product}"], workdir)
        tag = f"v{version}"
        if product == "kubernetes":
            info = json.loads(self._go(["mod", "download", "-json", f"k8s.io/kubernetes@{tag}"], workdir))
            upstream_go_mod = Path(info["GoMod"]).read_text()
            modules = staging_modules(upstream_go_mod)
            if not modules:
                raise GoBuildError(f"k8s.io/kubernetes@{tag}'s go.mod names no staging modules")
            staging_tag = f"v0.{Version.parse(version).minor}.{Version.parse(version).patch}"
            edits = [f"-replace={module}={module}@{staging_tag}" for module in modules]
            debug = godebug_default(upstream_go_mod)
            if debug:
                edits.append(f"-godebug=default={debug}")
            self._go(["mod", "edit", *edits], workdir)
            packages = [f"{PACKAGES[c]}@{tag}" for c in PACKAGES if PACKAGES[c].startswith("k8s.io/")]
        elif product == "etcd":
            packages = [f"{PACKAGES['etcd']}@{tag}"]
        elif product == "kwok":
            packages = [f"{PACKAGES['kwok']}@{tag}"]
        else:
            raise GoBuildError(f"no Go build recipe for {product}")
        self._go(["get", "-tool", *packages], workdir)
        marker.write_text(tag + "\n")
        return workdir

    def _build_date(self, module: str, tag: str, workdir: Path) -> str:
        """The upstream tag's time from the module proxy, so rebuilds are reproducible."""
        info = json.loads(self._go(["list", "-m", "-json", f"{module}@{tag}"], workdir))
        stamp = info.get("Time", "1970-01-01T00:00:00Z")
        return stamp.split(".")[0].rstrip("Z") + "Z"  # no fractional seconds, as upstream stamps it

    def _ldflags(self, product: str, version: str, workdir: Path) -> str:
        tag = f"v{version}"
        if product == "kubernetes":
            return kubernetes_ldflags(Version.parse(version), self._build_date("k8s.io/kubernetes", tag, workdir))
        if product == "etcd":
            return f"-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA={tag}"
        return "-s -w"

    def count_packages(self, binaries: list[Binary], workdir: Path) -> int | None:
        """How many packages a cold build compiles, for the progress display."""
        try:
            out = self._go(["list", "-deps", *(PACKAGES[b.component] for b in binaries)], workdir)
        except GoBuildError:
            return None
        return len(out.splitlines())

    def build(
        self, binaries: list[Binary], outdir: Path, on_progress: ProgressCallback | None = None
    ) -> dict[Binary, Path]:
        """Build binaries of ONE product and version in a single `go build` (shared packages)."""
        products = {(b.product, b.version) for b in binaries}
        if len(products) != 1:
            raise ValueError("build() takes binaries of one product and version")
        ((product, version),) = products
        workdir = self.prepare(product, version)
        total = self.count_packages(binaries, workdir)
        outdir.mkdir(parents=True, exist_ok=True)
        # With one package, -o names the file; with several, -o DIR/ writes one file per main package.
        if len(binaries) == 1:
            output = str(outdir / binaries[0].component)
        else:
            output = str(outdir) + os.sep
        command = [
            self.go, "build", "-v", "-trimpath", "-tags", "selinux,notest",
            "-ldflags", self._ldflags(product, version, workdir), "-o", output,
            *(PACKAGES[b.component] for b in binaries),
        ]
        compiled = 0
        tail: list[str] = []
        process = subprocess.Popen(
            command, cwd=workdir, env=self._env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert process.stdout is not None
        for line in process.stdout:
            tail = (tail + [line.rstrip()])[-20:]
            if line and not line.startswith(("#", " ", "\t")) and " " not in line.strip():
                compiled += 1
                if on_progress:
                    on_progress(compiled, total)
        if process.wait() != 0:
            raise GoBuildError(f"`{' '.join(command[:3])} ...` for {product} v{version} failed:\n" + "\n".join(tail))
        results: dict[Binary, Path] = {}
        for binary in binaries:
            built = outdir / binary.component
            if not built.exists():
                raise GoBuildError(f"go build finished but {built} is missing")
            results[binary] = built
        return results
