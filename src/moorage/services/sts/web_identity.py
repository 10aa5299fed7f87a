"""Web identity tokens (OIDC ID tokens, e.g. Kubernetes service-account tokens): read and verify a
JWT as STS does for AssumeRoleWithWebIdentity, with STS's errors.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import time
from dataclasses import dataclass
from typing import Callable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from ...core.errors import AwsError

INVALID_TOKEN = (
    "The web identity token that was passed could not be validated by AWS. "
    "Get a new identity token from the identity provider and then retry the request."
)
NO_VERIFICATION_KEY = (
    "Couldn't retrieve verification key from your identity provider,  "
    "please reference AssumeRoleWithWebIdentity documentation for requirements"
)
CLOCK_SKEW_SECONDS = 60


def invalid_identity_token(message: str = INVALID_TOKEN) -> AwsError:
    return AwsError("InvalidIdentityToken", message, 400)


@dataclass(frozen=True)
class WebToken:
    header: dict
    claims: dict
    signing_input: bytes
    signature: bytes

    @property
    def issuer(self) -> str:
        return self.claims["iss"]

    @property
    def audiences(self) -> list[str]:
        aud = self.claims.get("aud")
        return [aud] if isinstance(aud, str) else [a for a in aud or [] if isinstance(a, str)]


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def read_token(token: str) -> WebToken:
    """The token's parts, or InvalidIdentityToken if it is not a well-formed signed JWT."""
    try:
        header_text, payload_text, signature_text = token.split(".")
        header = json.loads(_b64url(header_text))
        claims = json.loads(_b64url(payload_text))
        signature = _b64url(signature_text)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise invalid_identity_token() from None
    if not isinstance(header, dict) or not isinstance(claims, dict) or not isinstance(claims.get("iss"), str):
        raise invalid_identity_token()
    if not isinstance(claims.get("sub"), str) or not isinstance(claims.get("exp"), (int, float)):
        raise invalid_identity_token()
    # JSON admits Infinity/NaN and any type of kid: those would fail later as a 500, not as STS's error.
    if not math.isfinite(claims["exp"]) or not isinstance(header.get("kid", ""), str):
        raise invalid_identity_token()
    return WebToken(header, claims, f"{header_text}.{payload_text}".encode(), signature)


def verify_token(token: WebToken, keys: dict[str, rsa.RSAPublicKey] | None, now: float | None = None) -> None:
    """Check the RS256 signature with the issuer's keys (kid -> key; None: the issuer's keys could
    not be fetched) and the token's validity window."""
    if not keys:
        raise invalid_identity_token(NO_VERIFICATION_KEY)
    if token.header.get("alg") != "RS256":
        raise invalid_identity_token()
    kid = token.header.get("kid")
    candidates = [keys[kid]] if kid in keys else ([] if kid else list(keys.values()))
    if not candidates:
        raise invalid_identity_token(NO_VERIFICATION_KEY)
    if not any(_signed_by(key, token) for key in candidates):
        raise invalid_identity_token()
    now = time.time() if now is None else now
    expires = int(token.claims["exp"])
    if now >= expires:
        raise AwsError(
            "ExpiredTokenException",
            f"Token expired: current date/time {int(now)} must be before the expiration date/time {expires}",
            400,
        )
    not_before = token.claims.get("nbf")
    if isinstance(not_before, (int, float)) and now + CLOCK_SKEW_SECONDS < not_before:
        raise invalid_identity_token()


def _signed_by(key: rsa.RSAPublicKey, token: WebToken) -> bool:
    try:
        key.verify(token.signature, token.signing_input, padding.PKCS1v15(), hashes.SHA256())
        return True
    except InvalidSignature:
        return False


KeyLookup = Callable[[str], "dict[str, rsa.RSAPublicKey] | None"]
