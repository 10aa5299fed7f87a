"""kube-apiserver's structured authentication configuration (`--authentication-config`).

Every kube-apiserver starts with the file (an empty AuthenticationConfiguration until an OIDC identity
provider config is associated); kube-apiserver reloads it when it changes, without a restart, and
reports the sha256 of the configuration it runs in the gauge
`apiserver_authentication_config_controller_last_config_info{hash="sha256:<hex>"}` (1.34+), which
tells when a written file is in force. apiserver.config.k8s.io/v1 is served since 1.34 (the feature
is GA), so every supported minor (1.35-1.37) accepts it. The file sits beside the token webhook's
(`--authentication-token-webhook-config-file`): the two are combined, as kube-apiserver allows; only
the `--oidc-*` flags are exclusive with it.

kube-apiserver fetches each issuer's discovery document and JWKS over https. EKS's API has no CA
field, so the issuer's certificate must chain to the system trust store, or to the PEM bundle named
by MOORAGE_OIDC_CA_BUNDLE (read when the file is written), given as `issuer.certificateAuthority`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

CA_BUNDLE_ENV = "MOORAGE_OIDC_CA_BUNDLE"
API_VERSION = "apiserver.config.k8s.io/v1"
FILE_NAME = "authentication-config.json"
LAST_CONFIG_INFO = "apiserver_authentication_config_controller_last_config_info"
_HASH_RE = re.compile(LAST_CONFIG_INFO + r'\{[^}]*hash="(sha256:[0-9a-f]+)"')


def authentication_config_path(config_dir: Path) -> Path:
    return config_dir / FILE_NAME


def ca_bundle() -> str | None:
    path = os.environ.get(CA_BUNDLE_ENV)
    return Path(path).read_text() if path else None


def jwt_authenticator(oidc: dict, certificate_authority: str | None = None) -> dict:
    """One JWT authenticator for an EKS OIDC config (the fields of EKS's OidcIdentityProviderConfigRequest).

    EKS's defaults, as the legacy --oidc-* flags had them: usernameClaim `sub`; without usernamePrefix the
    username is prefixed with `<issuerUrl>#` unless the claim is `email`; `-` means no prefix; groups
    have no prefix unless groupsPrefix is given. requiredClaims become claimValidationRules."""
    claim = oidc.get("usernameClaim") or "sub"
    prefix = oidc.get("usernamePrefix")
    if prefix is None:
        prefix = "" if claim == "email" else f"{oidc['issuerUrl']}#"
    elif prefix == "-":
        prefix = ""
    issuer: dict = {"url": oidc["issuerUrl"], "audiences": [oidc["clientId"]]}
    if certificate_authority:
        issuer["certificateAuthority"] = certificate_authority
    mappings: dict = {"username": {"claim": claim, "prefix": prefix}}
    if oidc.get("groupsClaim"):
        mappings["groups"] = {"claim": oidc["groupsClaim"], "prefix": oidc.get("groupsPrefix") or ""}
    authenticator: dict = {"issuer": issuer, "claimMappings": mappings}
    rules = [{"claim": k, "requiredValue": v} for k, v in sorted((oidc.get("requiredClaims") or {}).items())]
    if rules:
        authenticator["claimValidationRules"] = rules
    return authenticator


def authentication_config(oidc_configs: list[dict], certificate_authority: str | None = None) -> str:
    """The file's text (JSON is YAML): one JWT authenticator per config, in name order."""
    ordered = sorted(oidc_configs, key=lambda c: c["identityProviderConfigName"])
    document = {"apiVersion": API_VERSION, "kind": "AuthenticationConfiguration",
                "jwt": [jwt_authenticator(c, certificate_authority) for c in ordered]}
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def config_hash(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def write_authentication_config(config_dir: Path, text: str) -> Path:
    """Write atomically (kube-apiserver may read it at any moment); unchanged text is not rewritten."""
    path = authentication_config_path(config_dir)
    if path.exists() and path.read_text() == text:
        return path
    config_dir.mkdir(parents=True, exist_ok=True)
    scratch = path.with_suffix(".tmp")
    scratch.write_text(text)
    scratch.chmod(0o600)
    os.replace(scratch, path)
    return path


def ensure_authentication_config(config_dir: Path) -> Path:
    """The file a starting kube-apiserver is given: kept as the controller last wrote it, else empty."""
    path = authentication_config_path(config_dir)
    if not path.exists():
        write_authentication_config(config_dir, authentication_config([]))
    return path


def loaded_hashes(metrics_text: str) -> set[str]:
    """The configuration hashes kube-apiserver reports running (one per API server identity)."""
    return set(_HASH_RE.findall(metrics_text))
