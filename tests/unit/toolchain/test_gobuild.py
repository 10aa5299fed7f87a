from moorage.infra.toolchain.catalog import Version
from moorage.infra.toolchain.gobuild import godebug_default, kubernetes_ldflags, staging_modules

KUBERNETES_GO_MOD = """\
module k8s.io/kubernetes

go 1.26.0

godebug default=go1.26

require (
\tgithub.com/spf13/cobra v1.10.2
\tk8s.io/api v0.0.0
\tk8s.io/kubelet v0.0.0
)

replace (
\tk8s.io/api => ./staging/src/k8s.io/api
\tk8s.io/cri-streaming => ./staging/src/k8s.io/cri-streaming
\tk8s.io/kubelet => ./staging/src/k8s.io/kubelet
\tgithub.com/example/fork => github.com/example/fork v1.0.0
)

replace k8s.io/streaming => ./staging/src/k8s.io/streaming
"""


def test_staging_modules_are_read_from_go_mod():
    assert staging_modules(KUBERNETES_GO_MOD) == [
        "k8s.io/api",
        "k8s.io/cri-streaming",
        "k8s.io/kubelet",
        "k8s.io/streaming",
    ]


def test_godebug_default():
    assert godebug_default(KUBERNETES_GO_MOD) == "go1.26"
    assert godebug_default("module x\n") is None


def test_ldflags_stamp_both_version_packages():
    flags = kubernetes_ldflags(Version(1, 37, 2), "2026-10-27T12:01:04Z")
    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        assert f"-X {package}.gitVersion=v1.37.2" in flags
        assert f"-X {package}.gitMinor=37" in flags
        assert f"-X {package}.gitMajor=1" in flags
        assert f"-X {package}.buildDate=2026-10-27T12:01:04Z" in flags
    assert flags.startswith("-s -w")
