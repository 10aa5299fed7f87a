"""The AWS endpoint's TLS files (`moorage up --tls`): modes, reuse across restarts, SANs, the SSL
context, the profile's ca_bundle, and when TLS is on by default."""

import importlib
import ipaddress
import ssl
import stat

import pytest
from click.testing import CliRunner
from cryptography import x509

from moorage.config import ServerConfig, is_loopback
from moorage.infra.endpoint_tls import ca_bundle_path, ensure_endpoint_tls, server_context
from moorage.services.accounts import RootAccount, ensure_aws_profile

up_command = importlib.import_module("moorage.cli.up")  # the module: moorage.cli.up is also the command's name


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def sans(path) -> tuple[set, set]:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return set(names.get_values_for_type(x509.DNSName)), set(names.get_values_for_type(x509.IPAddress))


def test_files_are_owner_only_and_the_bundle_is_the_ca(tmp_path):
    pki = ensure_endpoint_tls(tmp_path, "127.0.0.1")
    root = tmp_path / "tls"
    assert pki.ca_bundle == ca_bundle_path(tmp_path) == root / "ca.crt"
    assert mode(root) == 0o700
    assert mode(root / "ca.key") == 0o600 and mode(root / "serving.key") == 0o600
    assert mode(root / "ca.crt") == 0o644 and mode(root / "serving.crt") == 0o644  # public, inside the 0700 dir
    ca = x509.load_pem_x509_certificate(pki.ca_bundle.read_bytes())
    assert ca.subject.rfc4514_string() == "CN=moorage-ca"
    assert sans(pki.serving.cert) == ({"localhost"}, {ipaddress.ip_address("127.0.0.1")})


def test_reused_across_restarts(tmp_path):
    first = ensure_endpoint_tls(tmp_path, "127.0.0.1")
    before = {path.name: (path.read_bytes(), path.stat().st_mtime_ns) for path in (tmp_path / "tls").iterdir()}
    second = ensure_endpoint_tls(tmp_path, "127.0.0.1")
    after = {path.name: (path.read_bytes(), path.stat().st_mtime_ns) for path in (tmp_path / "tls").iterdir()}
    assert first == second and before == after


def test_a_loose_key_mode_is_tightened(tmp_path):
    ensure_endpoint_tls(tmp_path, "127.0.0.1")
    (tmp_path / "tls" / "serving.key").chmod(0o644)
    ensure_endpoint_tls(tmp_path, "127.0.0.1")
    assert mode(tmp_path / "tls" / "serving.key") == 0o600


def test_another_host_reissues_the_leaf_from_the_same_ca(tmp_path):
    ensure_endpoint_tls(tmp_path, "127.0.0.1")
    ca_before = (tmp_path / "tls" / "ca.crt").read_bytes()
    pki = ensure_endpoint_tls(tmp_path, "192.0.2.10")
    assert (tmp_path / "tls" / "ca.crt").read_bytes() == ca_before
    assert ipaddress.ip_address("192.0.2.10") in sans(pki.serving.cert)[1]
    pki = ensure_endpoint_tls(tmp_path, "moorage.example")
    assert "moorage.example" in sans(pki.serving.cert)[0]


def test_wildcard_host_names_this_machine(tmp_path):
    pki = ensure_endpoint_tls(tmp_path, "0.0.0.0")
    dns, ips = sans(pki.serving.cert)
    assert "localhost" in dns and len(dns) >= 2
    assert ipaddress.ip_address("127.0.0.1") in ips and ipaddress.ip_address("::1") in ips


def test_server_context_serves_the_certificate(tmp_path):
    ensure_endpoint_tls(tmp_path, "127.0.0.1")
    context = server_context(tmp_path)
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2


@pytest.mark.parametrize("host, loopback", [
    ("127.0.0.1", True), ("127.0.0.2", True), ("::1", True), ("localhost", True),
    ("0.0.0.0", False), ("::", False), ("192.0.2.10", False), ("moorage.example", False),
])
def test_is_loopback(host, loopback):
    assert is_loopback(host) is loopback


def test_url_scheme_follows_tls():
    assert ServerConfig(port=1).url == "http://127.0.0.1:1"
    assert ServerConfig(port=1, tls=True).url == "https://127.0.0.1:1"
    assert ServerConfig(host="::", port=1, tls=True).url == "https://[::]:1"


def run_up(monkeypatch, *args, env=None) -> tuple[ServerConfig, str]:
    seen = {}

    async def fake_serve(config, announce, api_workers):
        seen["config"] = config

    monkeypatch.setattr(up_command, "serve", fake_serve)
    result = CliRunner().invoke(up_command.up, ["--data-dir", "/tmp/unused-moorage", *args], env=env or {})
    assert result.exit_code == 0, result.output
    return seen["config"], result.output


@pytest.mark.parametrize("args, env, tls", [
    ((), {}, False),
    (("--host", "0.0.0.0"), {}, True),
    (("--host", "127.0.0.1", "--tls"), {}, True),
    ((), {"MOORAGE_TLS": "1"}, True),
    (("--host", "0.0.0.0"), {"MOORAGE_TLS": "false"}, False),
])
def test_tls_by_default_beyond_loopback(monkeypatch, args, env, tls):
    config, _ = run_up(monkeypatch, *args, env=env)
    assert config.tls is tls


def test_no_tls_beyond_loopback_warns(monkeypatch):
    config, output = run_up(monkeypatch, "--host", "0.0.0.0", "--no-tls")
    assert config.tls is False and "Warning: --no-tls" in output
    _, output = run_up(monkeypatch, "--no-tls")
    assert "Warning" not in output


def test_the_profile_names_the_ca_bundle_only_when_moorage_writes_it(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    account = RootAccount("111122223333", "AKIAEXAMPLEEXAMPLE12", "secret")
    bundle = tmp_path / "tls" / "ca.crt"
    assert ensure_aws_profile(account, "https://127.0.0.1:4573", ca_bundle=bundle)
    text = (tmp_path / "config").read_text()
    assert f"ca_bundle = {bundle}" in text and "endpoint_url = https://127.0.0.1:4573" in text
    # A profile that exists already (the user's, or an earlier plain-HTTP run's) is never changed.
    (tmp_path / "config").write_text("[profile moorage]\nregion = eu-west-1\n")
    assert ensure_aws_profile(account, "https://127.0.0.1:4573", ca_bundle=bundle) == []
    assert (tmp_path / "config").read_text() == "[profile moorage]\nregion = eu-west-1\n"


def test_profile_settings_are_read_back(tmp_path, monkeypatch):
    from moorage.services.accounts import aws_profile_settings

    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    assert aws_profile_settings() is None
    (tmp_path / "config").write_text("[profile moorage]\nendpoint_url = https://h:1\nca_bundle = /x/ca.crt\n")
    assert aws_profile_settings() == {"endpoint_url": "https://h:1", "ca_bundle": "/x/ca.crt"}
