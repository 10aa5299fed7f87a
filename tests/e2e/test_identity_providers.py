"""OIDC identity provider configs end to end: a local OIDC issuer over https (its own self-signed CA,
discovery document and JWKS, RS256 ID tokens signed with `cryptography`), associated with a real
cluster through boto3; kube-apiserver takes it without a restart, `kubectl --token=<id token> auth
whoami` shows the prefixed username and groups, a token without a required claim is refused, and
after DisassociateIdentityProviderConfig the token stops working.
"""

import base64
import datetime
import http.server
import ipaddress
import json
import ssl
import threading
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from ..conftest import ACCOUNT_ID, REGION, pick_port
from .test_cluster_access import unauthorized, wait_for
from .test_clusters import FAST, ROLE, moorage_up, run, two_subnets  # noqa: F401 (moorage_up is a fixture)

pytestmark = pytest.mark.toolchain

CLIENT_ID = "moorage-test"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def self_signed_ca_and_server(directory: Path) -> tuple[Path, Path, Path]:
    """A CA, and a certificate for 127.0.0.1 it signed: (ca.pem, server.pem, server.key)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test OIDC issuer CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    paths = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return paths


class OidcIssuer:
    """https://127.0.0.1:<port>: /.well-known/openid-configuration and /jwks; signs RS256 ID tokens."""

    def __init__(self, directory: Path):
        self.ca, cert, key = self_signed_ca_and_server(directory)
        self.port = pick_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        numbers = self.key.public_key().public_numbers()
        jwks = {"keys": [{"kty": "RSA", "alg": "RS256", "use": "sig", "kid": "test",
                          "n": b64url(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
                          "e": b64url(numbers.e.to_bytes(3, "big"))}]}
        discovery = {"issuer": self.url, "jwks_uri": f"{self.url}/jwks", "id_token_signing_alg_values_supported": ["RS256"],
                     "response_types_supported": ["id_token"], "subject_types_supported": ["public"]}
        documents = {"/.well-known/openid-configuration": discovery, "/jwks": jwks}

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                document = documents.get(self.path)
                body = json.dumps(document or {}).encode()
                self.send_response(200 if document else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def token(self, **claims) -> str:
        now = int(time.time())
        payload = {"iss": self.url, "aud": CLIENT_ID, "iat": now, "exp": now + 3600, **claims}
        signing_input = (b64url(json.dumps({"alg": "RS256", "typ": "JWT", "kid": "test"}).encode()) + "."
                         + b64url(json.dumps(payload).encode()))
        signature = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return signing_input + "." + b64url(signature)

    def stop(self):
        self.server.shutdown()


@pytest.fixture
def issuer(tmp_path):
    started = OidcIssuer(tmp_path)
    yield started
    started.stop()


def wait_update(eks, cluster: str, update_id: str) -> dict:
    def done():
        update = eks.describe_update(name=cluster, updateId=update_id)["update"]
        return update if update["status"] != "InProgress" else None
    return wait_for(done, timeout=120, interval=1)


# The oldest and the newest minor Moorage runs: both take apiserver.config.k8s.io/v1 and report its hash.
@pytest.mark.parametrize("version", ["1.35", "1.37"])
def test_oidc_identity_provider_signs_users_in(moorage_up, tmp_path, kubectl, issuer, version):
    moorage = moorage_up(extra_env={"MOORAGE_OIDC_CA_BUNDLE": str(issuer.ca)})
    eks = moorage.client("eks")
    eks.create_cluster(name="oidc", version=version, roleArn=ROLE, resourcesVpcConfig={"subnetIds": two_subnets(moorage)})
    eks.get_waiter("cluster_active").wait(name="oidc", WaiterConfig=FAST)
    info = eks.describe_cluster(name="oidc")["cluster"]
    assert info["version"] == version
    ca_file = tmp_path / "cluster-ca.pem"
    ca_file.write_bytes(base64.b64decode(info["certificateAuthority"]["data"]))
    no_kubeconfig = {**moorage.env(), "KUBECONFIG": str(tmp_path / "none.kubeconfig")}

    def whoami(token: str):
        return run(no_kubeconfig, kubectl, f"--server={info['endpoint']}", f"--certificate-authority={ca_file}",
                   f"--token={token}", "auth", "whoami", "-o", "json")

    good = issuer.token(sub="alice", groups=["dev", "ops"], hd="example.com")
    missing_claim = issuer.token(sub="mallory", groups=["dev"])
    assert unauthorized(whoami(good))  # not associated yet

    associated = eks.associate_identity_provider_config(
        clusterName="oidc", tags={"team": "platform"},
        oidc={"identityProviderConfigName": "corp", "issuerUrl": issuer.url, "clientId": CLIENT_ID,
              "usernameClaim": "sub", "usernamePrefix": "corp:", "groupsClaim": "groups", "groupsPrefix": "corp:",
              "requiredClaims": {"hd": "example.com"}})
    update = associated["update"]
    assert update["type"] == "AssociateIdentityProviderConfig" and update["status"] == "InProgress"
    assert update["params"][0]["type"] == "IdentityProviderConfig"
    reference = {"type": "oidc", "name": "corp"}
    config = eks.describe_identity_provider_config(clusterName="oidc", identityProviderConfig=reference)["identityProviderConfig"]["oidc"]
    assert config["status"] in ("CREATING", "ACTIVE")
    assert config["identityProviderConfigArn"].startswith(
        f"arn:aws:eks:{REGION}:{ACCOUNT_ID}:identityproviderconfig/oidc/oidc/corp/")
    # One OIDC config per cluster, as on EKS.
    with pytest.raises(eks.exceptions.ClientError):
        eks.associate_identity_provider_config(clusterName="oidc", oidc={
            "identityProviderConfigName": "second", "issuerUrl": issuer.url, "clientId": CLIENT_ID})

    assert wait_update(eks, "oidc", update["id"])["status"] == "Successful"
    config = eks.describe_identity_provider_config(clusterName="oidc", identityProviderConfig=reference)["identityProviderConfig"]["oidc"]
    assert config["status"] == "ACTIVE"
    assert eks.list_identity_provider_configs(clusterName="oidc")["identityProviderConfigs"] == [reference]
    assert eks.list_tags_for_resource(resourceArn=config["identityProviderConfigArn"])["tags"] == {"team": "platform"}

    signed_in = wait_for(lambda: (r := whoami(good)).returncode == 0 and r, timeout=30)
    user = json.loads(signed_in.stdout)["status"]["userInfo"]
    assert user["username"] == "corp:alice"
    assert {"corp:dev", "corp:ops", "system:authenticated"} <= set(user["groups"])
    assert unauthorized(whoami(missing_claim))

    disassociated = eks.disassociate_identity_provider_config(clusterName="oidc", identityProviderConfig=reference)["update"]
    assert disassociated["type"] == "DisassociateIdentityProviderConfig"
    assert wait_update(eks, "oidc", disassociated["id"])["status"] == "Successful"
    assert eks.list_identity_provider_configs(clusterName="oidc")["identityProviderConfigs"] == []
    wait_for(lambda: unauthorized(whoami(good)), timeout=30)
