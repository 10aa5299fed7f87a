"""The PKI units: what they write, that it verifies, and that re-runs reuse exactly what is still valid."""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import os
import shutil
import ssl
import stat
import subprocess
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from moorage.infra import pki

SERVER_URL = "https://127.0.0.1:41234"
EXTRA_DNS = ["abcdef0123456789.gr7.us-west-2.eks.amazonaws.com"]
EXTRA_IPS = ["192.168.7.7"]
SERVICE_IP = "10.100.0.1"

CA_SIGNED = [  # every leaf of the cluster CA, as file stems
    "apiserver",
    "apiserver-kubelet-client",
    "kube-controller-manager",
    "kube-scheduler",
    "admin",
]
KUBECONFIGS = ["kube-controller-manager", "kube-scheduler", "admin"]
OPENSSL = shutil.which("openssl")


def _ensure(pki_dir: Path, **overrides) -> pki.ClusterPki:
    kwargs = dict(
        server_url=SERVER_URL, service_ip=SERVICE_IP, extra_sans_dns=EXTRA_DNS, extra_sans_ips=EXTRA_IPS
    )
    kwargs.update(overrides)
    return pki.ensure_cluster_pki(pki_dir, **kwargs)


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


def _names(paths) -> set[str]:
    return {Path(p).name for p in paths}


def _pair_names(*stems: str) -> set[str]:
    return {f"{stem}.{ext}" for stem in stems for ext in ("crt", "key")}


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _eku(cert: x509.Certificate) -> set:
    return set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)


def _openssl_verify(ca: Path, cert: Path, purpose: str) -> None:
    if OPENSSL is None:
        pytest.skip("openssl not installed")
    result = subprocess.run(
        [OPENSSL, "verify", "-x509_strict", "-purpose", purpose, "-CAfile", str(ca), str(cert)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0 and result.stdout.strip().endswith("OK"), result.stdout + result.stderr


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """One fresh cluster PKI (and etcd PKI), generated once; tests mutate copies of it."""
    root = tmp_path_factory.mktemp("template")
    _ensure(root / "cluster")
    pki.ensure_etcd_pki(root / "etcd")
    return root


@pytest.fixture
def cluster_dir(template: Path, tmp_path: Path) -> Path:
    target = tmp_path / "cluster"
    shutil.copytree(template / "cluster", target)
    return target


@pytest.fixture
def etcd_dir(template: Path, tmp_path: Path) -> Path:
    target = tmp_path / "etcd"
    shutil.copytree(template / "etcd", target)
    return target


# --- fresh generation ---------------------------------------------------------------------------------


def test_fresh_generation_writes_the_layout_with_private_modes(tmp_path: Path):
    result = _ensure(tmp_path / "pki")
    expected = (
        _pair_names("ca", "front-proxy-ca", "front-proxy-client", *CA_SIGNED)
        | {"sa.key", "sa.pub"}
        | {f"{stem}.kubeconfig" for stem in KUBECONFIGS}
    )
    assert {p.name for p in (tmp_path / "pki").iterdir()} == expected
    assert _names(result.written) == expected
    for path in (tmp_path / "pki").iterdir():
        mode = stat.S_IMODE(path.stat().st_mode)
        private = path.suffix in (".key", ".kubeconfig")
        assert mode == (0o600 if private else 0o644), (path.name, oct(mode))
    assert stat.S_IMODE((tmp_path / "pki").stat().st_mode) == 0o700
    assert result.ca_pem == result.ca.cert.read_bytes()
    assert base64.b64decode(result.certificate_authority_data) == result.ca_pem
    assert result.ca_pem.startswith(b"-----BEGIN CERTIFICATE-----")


def test_paths_in_the_result_point_at_the_files(cluster_dir: Path):
    result = _ensure(cluster_dir)
    assert result.dir == cluster_dir
    assert result.apiserver == (cluster_dir / "apiserver.crt", cluster_dir / "apiserver.key")
    assert result.apiserver_kubelet_client.cert == cluster_dir / "apiserver-kubelet-client.crt"
    assert (result.sa_key, result.sa_pub) == (cluster_dir / "sa.key", cluster_dir / "sa.pub")
    assert result.front_proxy_ca.key == cluster_dir / "front-proxy-ca.key"
    assert result.front_proxy_client.cert == cluster_dir / "front-proxy-client.crt"
    assert result.controller_manager.kubeconfig == cluster_dir / "kube-controller-manager.kubeconfig"
    assert result.scheduler.cert == cluster_dir / "kube-scheduler.crt"
    assert result.admin.key == cluster_dir / "admin.key"


def test_openssl_accepts_every_chain(template: Path):
    cluster, etcd = template / "cluster", template / "etcd"
    _openssl_verify(cluster / "ca.crt", cluster / "apiserver.crt", "sslserver")
    for stem in CA_SIGNED[1:]:
        _openssl_verify(cluster / "ca.crt", cluster / f"{stem}.crt", "sslclient")
    _openssl_verify(cluster / "front-proxy-ca.crt", cluster / "front-proxy-client.crt", "sslclient")
    _openssl_verify(etcd / "ca.crt", etcd / "server.crt", "sslserver")
    _openssl_verify(etcd / "ca.crt", etcd / "server.crt", "sslclient")
    _openssl_verify(etcd / "ca.crt", etcd / "root-client.crt", "sslclient")


def test_apiserver_sans(template: Path):
    san = _cert(template / "cluster" / "apiserver.crt").extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert sorted(san.value.get_values_for_type(x509.DNSName)) == sorted(
        [
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
            "localhost",
            *EXTRA_DNS,
        ]
    )
    assert sorted(map(str, san.value.get_values_for_type(x509.IPAddress))) == sorted(
        ["127.0.0.1", SERVICE_IP, *EXTRA_IPS]
    )
    assert not san.critical


def test_subjects_and_key_usages(template: Path):
    cluster, etcd = template / "cluster", template / "etcd"
    expected = {  # file -> (CN, O, extended key usages)
        cluster / "apiserver.crt": ("kube-apiserver", [], {ExtendedKeyUsageOID.SERVER_AUTH}),
        cluster / "apiserver-kubelet-client.crt": (
            "kube-apiserver-kubelet-client",
            ["system:masters"],
            {ExtendedKeyUsageOID.CLIENT_AUTH},
        ),
        cluster / "kube-controller-manager.crt": (
            "system:kube-controller-manager",
            [],
            {ExtendedKeyUsageOID.CLIENT_AUTH},
        ),
        cluster / "kube-scheduler.crt": ("system:kube-scheduler", [], {ExtendedKeyUsageOID.CLIENT_AUTH}),
        cluster / "admin.crt": ("moorage-admin", ["system:masters"], {ExtendedKeyUsageOID.CLIENT_AUTH}),
        cluster / "front-proxy-client.crt": ("front-proxy-client", [], {ExtendedKeyUsageOID.CLIENT_AUTH}),
        etcd / "server.crt": ("etcd-server", [], {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}),
        # No CN: etcd's JSON gateway refuses client certificates with one once auth is enabled.
        etcd / "root-client.crt": (None, ["moorage"], {ExtendedKeyUsageOID.CLIENT_AUTH}),
    }
    for path, (cn, orgs, usages) in expected.items():
        cert = _cert(path)
        cns = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
        assert cns == ([cn] if cn else []), path
        assert [a.value for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)] == orgs, path
        assert _eku(cert) == usages, path
        assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        key_usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        assert key_usage.digital_signature and not key_usage.key_cert_sign
        assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
        validity = cert.not_valid_after_utc - cert.not_valid_before_utc
        assert timedelta(days=364) < validity <= timedelta(days=366)

    cas = {
        cluster / "ca.crt": "kubernetes",
        cluster / "front-proxy-ca.crt": "front-proxy-ca",
        etcd / "ca.crt": "etcd-ca",
    }
    for path, cn in cas.items():
        cert = _cert(path)
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
        assert constraints.value.ca and constraints.critical
        assert cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
        assert cert.subject == cert.issuer
        assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == cn
        validity = cert.not_valid_after_utc - cert.not_valid_before_utc
        assert timedelta(days=3649) < validity <= timedelta(days=3651)


def test_certificates_work_for_mutual_tls(template: Path):
    """A TLS handshake between the apiserver cert and the admin client cert, in memory."""
    cluster = template / "cluster"
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cluster / "apiserver.crt", cluster / "apiserver.key")
    server_ctx.load_verify_locations(cluster / "ca.crt")
    server_ctx.verify_mode = ssl.CERT_REQUIRED
    client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_ctx.load_cert_chain(cluster / "admin.crt", cluster / "admin.key")
    client_ctx.load_verify_locations(cluster / "ca.crt")

    for host in ("kubernetes.default.svc", "127.0.0.1", SERVICE_IP, EXTRA_DNS[0]):
        c_in, c_out, s_in, s_out = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
        client = client_ctx.wrap_bio(c_in, c_out, server_hostname=host)
        server = server_ctx.wrap_bio(s_in, s_out, server_side=True)
        done = {"client": False, "server": False}
        for _ in range(10):
            for name, end, out, peer_in in (("client", client, c_out, s_in), ("server", server, s_out, c_in)):
                if not done[name]:
                    try:
                        end.do_handshake()
                        done[name] = True
                    except ssl.SSLWantReadError:
                        pass
                peer_in.write(out.read())
            if all(done.values()):
                break
        assert all(done.values()), host
        peer = x509.load_der_x509_certificate(server.getpeercert(binary_form=True))
        assert peer.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "moorage-admin"


# --- idempotence and selective regeneration ---------------------------------------------------------------


def test_second_call_reuses_everything_byte_for_byte(cluster_dir: Path):
    before = _snapshot(cluster_dir)
    mtimes = {p.name: p.stat().st_mtime_ns for p in cluster_dir.iterdir()}
    result = _ensure(cluster_dir)
    assert result.written == ()
    assert _snapshot(cluster_dir) == before
    assert {p.name: p.stat().st_mtime_ns for p in cluster_dir.iterdir()} == mtimes


def test_san_order_and_duplicates_do_not_matter(cluster_dir: Path):
    result = _ensure(
        cluster_dir, extra_sans_dns=[*EXTRA_DNS, "localhost", *EXTRA_DNS], extra_sans_ips=["127.0.0.1", *EXTRA_IPS]
    )
    assert result.written == ()


def test_deleted_leaf_is_regenerated_alone(cluster_dir: Path):
    before = _snapshot(cluster_dir)
    (cluster_dir / "apiserver-kubelet-client.crt").unlink()
    result = _ensure(cluster_dir)
    assert _names(result.written) == _pair_names("apiserver-kubelet-client")
    after = _snapshot(cluster_dir)
    assert {name for name in after if after[name] != before.get(name)} == _pair_names("apiserver-kubelet-client")
    _openssl_verify(cluster_dir / "ca.crt", cluster_dir / "apiserver-kubelet-client.crt", "sslclient")


def test_truncated_client_key_regenerates_its_cert_and_kubeconfig_only(cluster_dir: Path):
    key = cluster_dir / "kube-scheduler.key"
    key.write_bytes(key.read_bytes()[:40])
    result = _ensure(cluster_dir)
    assert _names(result.written) == _pair_names("kube-scheduler") | {"kube-scheduler.kubeconfig"}
    config = json.loads((cluster_dir / "kube-scheduler.kubeconfig").read_text())
    assert base64.b64decode(config["users"][0]["user"]["client-key-data"]) == key.read_bytes()


@pytest.mark.parametrize("damage", ["truncate", "garbage", "swap-key"])
def test_damaged_serving_cert_is_regenerated(cluster_dir: Path, damage: str):
    cert = cluster_dir / "apiserver.crt"
    if damage == "truncate":
        cert.write_bytes(cert.read_bytes()[: len(cert.read_bytes()) // 2])
    elif damage == "garbage":
        cert.write_bytes(b"not a certificate\n")
    else:  # a key that parses but belongs to another cert
        shutil.copyfile(cluster_dir / "admin.key", cluster_dir / "apiserver.key")
    result = _ensure(cluster_dir)
    assert _names(result.written) == _pair_names("apiserver")
    _openssl_verify(cluster_dir / "ca.crt", cert, "sslserver")


def test_changed_sans_regenerate_only_the_serving_cert(cluster_dir: Path):
    result = _ensure(cluster_dir, extra_sans_dns=[*EXTRA_DNS, "api.example.test"], extra_sans_ips=["10.0.0.9"])
    assert _names(result.written) == _pair_names("apiserver")
    san = _cert(cluster_dir / "apiserver.crt").extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "api.example.test" in san.get_values_for_type(x509.DNSName)
    assert set(map(str, san.get_values_for_type(x509.IPAddress))) == {"127.0.0.1", SERVICE_IP, "10.0.0.9"}
    # A changed service CIDR is a SAN change too, and removing SANs counts as well.
    assert _names(_ensure(cluster_dir, service_ip="172.20.0.1").written) == _pair_names("apiserver")
    bare = dict(extra_sans_dns=[], extra_sans_ips=[], service_ip="172.20.0.1")
    assert _names(_ensure(cluster_dir, **bare).written) == _pair_names("apiserver")
    assert _ensure(cluster_dir, **bare).written == ()


def test_regenerated_ca_regenerates_everything_it_signed(cluster_dir: Path):
    before = _snapshot(cluster_dir)
    (cluster_dir / "ca.key").unlink()
    result = _ensure(cluster_dir)
    regenerated = _pair_names("ca", *CA_SIGNED) | {f"{stem}.kubeconfig" for stem in KUBECONFIGS}
    assert _names(result.written) == regenerated
    after = _snapshot(cluster_dir)
    assert {name for name in after if after[name] != before[name]} == regenerated
    assert result.ca_pem != before["ca.crt"]
    _openssl_verify(cluster_dir / "ca.crt", cluster_dir / "apiserver.crt", "sslserver")
    for stem in CA_SIGNED[1:]:
        _openssl_verify(cluster_dir / "ca.crt", cluster_dir / f"{stem}.crt", "sslclient")
    config = json.loads((cluster_dir / "admin.kubeconfig").read_text())
    assert base64.b64decode(config["clusters"][0]["cluster"]["certificate-authority-data"]) == result.ca_pem


def test_crash_after_ca_rotation_is_repaired_on_the_next_call(cluster_dir: Path):
    """The CA was replaced but the process died before re-issuing leaves: the leaves no longer verify."""
    (cluster_dir / "ca.crt").unlink()
    with pki.AtomicWriter() as writer:
        pki.ensure_ca(pki.CertPaths(cluster_dir / "ca.crt", cluster_dir / "ca.key"), "kubernetes", writer=writer)
    result = _ensure(cluster_dir)
    assert _names(result.written) == _pair_names(*CA_SIGNED) | {f"{stem}.kubeconfig" for stem in KUBECONFIGS}


def test_regenerated_front_proxy_ca_regenerates_only_its_client(cluster_dir: Path):
    (cluster_dir / "front-proxy-ca.crt").write_bytes(b"")
    result = _ensure(cluster_dir)
    assert _names(result.written) == _pair_names("front-proxy-ca", "front-proxy-client")


def test_leaves_near_expiry_are_renewed_but_cas_kept(cluster_dir: Path):
    later = datetime.now(timezone.utc) + timedelta(days=340)
    result = _ensure(cluster_dir, now=later)
    assert _names(result.written) == _pair_names("front-proxy-client", *CA_SIGNED) | {
        f"{stem}.kubeconfig" for stem in KUBECONFIGS
    }
    assert _cert(cluster_dir / "apiserver.crt").not_valid_after_utc > later + timedelta(days=360)
    assert _ensure(cluster_dir, now=later).written == ()


def test_ca_near_expiry_is_renewed_with_everything(cluster_dir: Path):
    much_later = datetime.now(timezone.utc) + timedelta(days=3650 - 20)
    result = _ensure(cluster_dir, now=much_later)
    assert {"ca.crt", "front-proxy-ca.crt", "apiserver.crt"} <= _names(result.written)
    assert not {"sa.key", "sa.pub"} & _names(result.written)


def test_leaf_validity_is_clamped_to_its_ca(cluster_dir: Path):
    ca_expiry = _cert(cluster_dir / "ca.crt").not_valid_after_utc
    (cluster_dir / "admin.crt").unlink()
    _ensure(cluster_dir, now=ca_expiry - timedelta(days=200))
    assert _cert(cluster_dir / "admin.crt").not_valid_after_utc == ca_expiry


def test_loose_key_permissions_are_fixed_without_regenerating(cluster_dir: Path):
    os.chmod(cluster_dir / "admin.key", 0o644)
    os.chmod(cluster_dir / "admin.kubeconfig", 0o644)
    assert _ensure(cluster_dir).written == ()
    assert stat.S_IMODE((cluster_dir / "admin.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((cluster_dir / "admin.kubeconfig").stat().st_mode) == 0o600


# --- kubeconfigs --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stem", "user"),
    [
        ("kube-controller-manager", "system:kube-controller-manager"),
        ("kube-scheduler", "system:kube-scheduler"),
        ("admin", "moorage-admin"),
    ],
)
def test_kubeconfig_embeds_the_right_data(template: Path, stem: str, user: str):
    cluster = template / "cluster"
    config = json.loads((cluster / f"{stem}.kubeconfig").read_text())
    assert config["apiVersion"] == "v1" and config["kind"] == "Config"
    context = next(c["context"] for c in config["contexts"] if c["name"] == config["current-context"])
    entry = next(c["cluster"] for c in config["clusters"] if c["name"] == context["cluster"])
    creds = next(u["user"] for u in config["users"] if u["name"] == context["user"])
    assert entry["server"] == SERVER_URL
    assert base64.b64decode(entry["certificate-authority-data"]) == (cluster / "ca.crt").read_bytes()
    assert base64.b64decode(creds["client-certificate-data"]) == (cluster / f"{stem}.crt").read_bytes()
    assert base64.b64decode(creds["client-key-data"]) == (cluster / f"{stem}.key").read_bytes()
    assert context["user"] == user


def test_changed_server_url_rewrites_only_the_kubeconfigs(cluster_dir: Path):
    result = _ensure(cluster_dir, server_url="https://127.0.0.1:50000")
    assert _names(result.written) == {f"{stem}.kubeconfig" for stem in KUBECONFIGS}
    config = json.loads((cluster_dir / "admin.kubeconfig").read_text())
    assert config["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:50000"


def test_server_url_must_be_https(tmp_path: Path):
    with pytest.raises(ValueError):
        _ensure(tmp_path, server_url="http://127.0.0.1:6443")


# --- service-account key and JWKS ---------------------------------------------------------------------


def test_sa_key_is_rsa_2048_and_sa_pub_matches(template: Path):
    cluster = template / "cluster"
    key = serialization.load_pem_private_key((cluster / "sa.key").read_bytes(), password=None)
    pub = serialization.load_pem_public_key((cluster / "sa.pub").read_bytes())
    assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 2048
    assert key.public_key().public_numbers() == pub.public_numbers()


def test_deleted_sa_pub_is_rewritten_from_sa_key(cluster_dir: Path):
    before = (cluster_dir / "sa.pub").read_bytes()
    (cluster_dir / "sa.pub").unlink()
    result = _ensure(cluster_dir)
    assert _names(result.written) == {"sa.pub"}
    assert (cluster_dir / "sa.pub").read_bytes() == before


def test_corrupted_sa_key_is_regenerated(cluster_dir: Path):
    pem = (cluster_dir / "sa.key").read_bytes()
    # Flip one byte inside the base64 body: it still parses as PEM, but the DER or the numbers break.
    body_start = pem.index(b"\n") + 200
    flipped = pem[:body_start] + (b"A" if pem[body_start:body_start + 1] != b"A" else b"B") + pem[body_start + 1 :]
    (cluster_dir / "sa.key").write_bytes(flipped)
    result = _ensure(cluster_dir)
    assert _names(result.written) == {"sa.key", "sa.pub"}


def test_jwks_fields_and_stable_kid(template: Path):
    sa_pub = template / "cluster" / "sa.pub"
    document = pki.jwks(sa_pub)
    assert list(document) == ["keys"] and len(document["keys"]) == 1
    jwk = document["keys"][0]
    assert {k: jwk[k] for k in ("kty", "use", "alg")} == {"kty": "RSA", "use": "sig", "alg": "RS256"}
    public = serialization.load_pem_public_key(sa_pub.read_bytes())
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert jwk["kid"] == base64.urlsafe_b64encode(hashlib.sha256(der).digest()).rstrip(b"=").decode()

    def b64url_int(value: str) -> int:
        assert "=" not in value
        return int.from_bytes(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)), "big")

    assert b64url_int(jwk["n"]) == public.public_numbers().n
    assert b64url_int(jwk["e"]) == 65537 and jwk["e"] == "AQAB"
    assert pki.jwks(sa_pub.read_bytes()) == document == pki.jwks(public)
    json.dumps(document)  # serializable as is


def test_jwks_kid_survives_a_rerun(cluster_dir: Path):
    kid = pki.jwks(cluster_dir / "sa.pub")["keys"][0]["kid"]
    (cluster_dir / "sa.pub").unlink()
    _ensure(cluster_dir)
    assert pki.jwks(cluster_dir / "sa.pub")["keys"][0]["kid"] == kid


def test_jwks_for_an_ec_key():
    key = ec.generate_private_key(ec.SECP256R1())
    jwk = pki.jwks(key.public_key())["keys"][0]
    assert (jwk["kty"], jwk["alg"], jwk["crv"]) == ("EC", "ES256", "P-256")
    assert len(base64.urlsafe_b64decode(jwk["x"] + "=")) == 32
    assert jwk["kid"] == pki.key_id(key.public_key())


# --- etcd ---------------------------------------------------------------------------------------------


def test_etcd_pki_is_idempotent_and_has_localhost_sans(etcd_dir: Path):
    before = _snapshot(etcd_dir)
    result = pki.ensure_etcd_pki(etcd_dir)
    assert result.written == () and _snapshot(etcd_dir) == before
    assert set(before) == _pair_names("ca", "server", "root-client")
    assert result.ca_pem == before["ca.crt"]
    san = _cert(etcd_dir / "server.crt").extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]


def test_etcd_client_cert_per_cluster(etcd_dir: Path, cluster_dir: Path):
    etcd = pki.ensure_etcd_pki(etcd_dir)
    cert_path, key_path = pki.ensure_etcd_client(etcd, cluster_dir, "moorage-000000000000-us-west-2-demo")
    assert cert_path == cluster_dir / "apiserver-etcd-client.crt"
    assert key_path == cluster_dir / "apiserver-etcd-client.key"
    cert = _cert(cert_path)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "moorage-000000000000-us-west-2-demo"
    assert _eku(cert) == {ExtendedKeyUsageOID.CLIENT_AUTH}
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    _openssl_verify(etcd.ca.cert, cert_path, "sslclient")

    before = cert_path.read_bytes()
    pki.ensure_etcd_client(etcd, cluster_dir, "moorage-000000000000-us-west-2-demo")
    assert cert_path.read_bytes() == before
    pki.ensure_etcd_client(etcd, cluster_dir, "another-user")
    assert _cert(cert_path).subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "another-user"
    # The cluster PKI does not know about this file and leaves it alone.
    assert _ensure(cluster_dir).written == ()


def test_etcd_client_is_reissued_when_the_etcd_ca_changes(etcd_dir: Path, cluster_dir: Path):
    etcd = pki.ensure_etcd_pki(etcd_dir)
    cert_path, _ = pki.ensure_etcd_client(etcd, cluster_dir, "u1")
    (etcd_dir / "ca.key").unlink()
    etcd2 = pki.ensure_etcd_pki(etcd_dir)
    assert _names(etcd2.written) == _pair_names("ca", "server", "root-client")
    pki.ensure_etcd_client(etcd2, cluster_dir, "u1")
    _openssl_verify(etcd2.ca.cert, cert_path, "sslclient")


def test_etcd_client_never_regenerates_the_shared_ca(etcd_dir: Path, cluster_dir: Path):
    etcd = pki.ensure_etcd_pki(etcd_dir)
    (etcd_dir / "ca.crt").unlink()
    with pytest.raises(pki.PkiError):
        pki.ensure_etcd_client(etcd, cluster_dir, "u1")
    assert not (etcd_dir / "ca.crt").exists()


# --- writes ---------------------------------------------------------------------------------------------


def test_writer_publishes_nothing_on_error(tmp_path: Path):
    target = tmp_path / "file"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with pki.AtomicWriter() as writer:
            writer.write(target, b"new", 0o600)
            raise RuntimeError("boom")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_stale_temp_files_are_swept(cluster_dir: Path):
    stale = cluster_dir / ".apiserver.crt.abc123.tmp"
    fresh = cluster_dir / ".admin.key.def456.tmp"
    stale.write_bytes(b"half")
    fresh.write_bytes(b"half")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    _ensure(cluster_dir)
    assert not stale.exists() and fresh.exists()


def test_first_service_ip():
    assert pki.first_service_ip("10.100.0.0/16") == "10.100.0.1"
    assert pki.first_service_ip("172.20.0.0/16") == "172.20.0.1"
    assert pki.first_service_ip("fd12:3456:789a::/108") == "fd12:3456:789a::1"
