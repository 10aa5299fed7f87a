"""The service-account key as OIDC publishes it: RFC 7517 JWK Sets and kube-apiserver's key ids.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from .encoding import _b64url, _b64url_int

# ----------------------------------------------------------------------------------------------------
# Service-account JWKS (for the cluster's OIDC issuer)


def key_id(public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey) -> str:
    """base64url(SHA-256(DER SubjectPublicKeyInfo)): the ``kid`` kube-apiserver puts in SA tokens."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return _b64url(hashlib.sha256(der).digest())


def jwks(sa_pub: Path | str | bytes | rsa.RSAPublicKey | ec.EllipticCurvePublicKey) -> dict:
    """The RFC 7517 JWK Set publishing the service-account public key (path, PEM bytes or key)."""
    if isinstance(sa_pub, (str, Path)):
        sa_pub = Path(sa_pub).read_bytes()
    key = serialization.load_pem_public_key(sa_pub) if isinstance(sa_pub, bytes) else sa_pub
    if isinstance(key, rsa.RSAPublicKey):
        numbers = key.public_numbers()
        jwk = {
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "kid": key_id(key),
            "n": _b64url_int(numbers.n),
            "e": _b64url_int(numbers.e),
        }
    elif isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        numbers = key.public_numbers()
        jwk = {
            "kty": "EC",
            "use": "sig",
            "alg": "ES256",
            "kid": key_id(key),
            "crv": "P-256",
            "x": _b64url(numbers.x.to_bytes(32, "big")),
            "y": _b64url(numbers.y.to_bytes(32, "big")),
        }
    else:
        raise TypeError(f"unsupported service-account key type {type(key).__name__}")
    return {"keys": [jwk]}
