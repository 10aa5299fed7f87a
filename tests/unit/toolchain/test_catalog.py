import pytest

from moorage.infra.toolchain.catalog import (
    DEFAULT_KUBERNETES_VERSION,
    KUBERNETES_VERSIONS,
    Binary,
    Version,
    VersionError,
    all_binaries,
    reported_version,
    resolve_kubernetes_version,
)


def test_two_minors_pinned_and_newest_is_default():
    minors = {Version.parse(v).minor_line for v in KUBERNETES_VERSIONS}
    assert minors == {"1.35", "1.36", "1.37"}
    assert DEFAULT_KUBERNETES_VERSION == max(KUBERNETES_VERSIONS, key=Version.parse)


@pytest.mark.parametrize(
    "text, expected",
    [("1.37.2", Version(1, 37, 2)), ("v1.36.3", Version(1, 36, 3)), (" 3.6.16 ", Version(3, 6, 16))],
)
def test_version_parse(text, expected):
    assert Version.parse(text) == expected


@pytest.mark.parametrize("text", ["1.37", "1.37.x", "", "v1", "1.37.2-rc.0"])
def test_version_parse_rejects(text):
    with pytest.raises(VersionError):
        Version.parse(text)


def test_versions_order_numerically():
    assert Version.parse("1.37.10") > Version.parse("1.37.9")


@pytest.mark.parametrize(
    "requested, pinned",
    [(None, DEFAULT_KUBERNETES_VERSION), ("1.35", "1.35.4"), ("1.36", "1.36.3"), ("v1.37", "1.37.2"), ("1.37.2", "1.37.2")],
)
def test_resolve_kubernetes_version(requested, pinned):
    assert resolve_kubernetes_version(requested) == pinned


@pytest.mark.parametrize("requested", ["1.34", "1.37.1", "latest"])
def test_resolve_rejects_unpinned(requested):
    with pytest.raises(VersionError):
        resolve_kubernetes_version(requested)


def test_all_binaries_covers_every_component_once():
    keys = [b.key for b in all_binaries()]
    assert len(keys) == len(set(keys)) == 17
    assert "etcd/3.6.16" in keys and "kwok/0.8.0" in keys


@pytest.mark.parametrize(
    "component, output, version",
    [
        ("kube-apiserver", "Kubernetes v1.37.2\n", "1.37.2"),
        ("kubelet", "Kubernetes v1.36.3", "1.36.3"),
        ("kubectl", "Client Version: v1.37.2\nKustomize Version: v5.8.1\n", "1.37.2"),
        ("etcd", "etcd Version: 3.6.16\nGit SHA: v3.6.16\nGo Version: go1.26.8\n", "3.6.16"),
        ("kwok", "kwok version v0.8.0 go1.26.8 (linux/amd64)", "0.8.0"),
        ("kube-apiserver", "Kubernetes v0.0.0-master+$Format:%H$", "0.0.0"),
        ("kube-apiserver", "flag provided but not defined: -version", None),
    ],
)
def test_reported_version(component, output, version):
    assert reported_version(Binary(component, "x", "p"), output) == version
