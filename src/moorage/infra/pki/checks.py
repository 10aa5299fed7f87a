"""What makes a certificate on disk reusable: parses, matches its key, verifies against the
current CA, is within its validity, and carries exactly the requested subject and SANs.
"""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .encoding import _public_der
from .files import _fix_private_mode
from .model import RENEW_BEFORE, SA_KEY_BITS, CertificateAuthority, CertPaths, CertSpec, PkiError

# ----------------------------------------------------------------------------------------------------
# Checks


def _read_pair(paths: CertPaths):
    try:
        cert_pem = paths.cert.read_bytes()
        key_pem = paths.key.read_bytes()
    except FileNotFoundError as missing:
        raise PkiError(f"{Path(missing.filename).name} missing") from None
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError as error:
        raise PkiError(f"certificate does not parse: {error}") from None
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as error:
        raise PkiError(f"key does not parse: {error}") from None
    if _public_der(key.public_key()) != _public_der(cert.public_key()):
        raise PkiError("key does not match certificate")
    _fix_private_mode(paths.key)
    return cert, cert_pem, key, key_pem


def _check_leaf(cert: x509.Certificate, ca: CertificateAuthority, spec: CertSpec, now: datetime) -> None:
    _check_issued_by(cert, ca.cert)
    _check_time(cert, now)
    if cert.subject != spec.subject():
        raise PkiError(f"subject is {cert.subject.rfc4514_string()}, want {spec.subject().rfc4514_string()}")
    try:
        if cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
            raise PkiError("leaf is a CA")
    except x509.ExtensionNotFound:
        raise PkiError("no BasicConstraints") from None
    try:
        usages = frozenset(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        usages = frozenset()
    if usages != spec.extended_key_usages():
        raise PkiError("extended key usages differ")
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        have_dns, have_ips = set(san.get_values_for_type(x509.DNSName)), set(san.get_values_for_type(x509.IPAddress))
    except x509.ExtensionNotFound:
        have_dns, have_ips = set(), set()
    if have_dns != set(spec.dns_names) or have_ips != set(spec.ip_addresses):
        raise PkiError("SANs differ")


def _check_issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> None:
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature) as error:
        raise PkiError(f"not signed by the current CA ({error or type(error).__name__})") from None


def _check_time(cert: x509.Certificate, now: datetime) -> None:
    if cert.not_valid_before_utc > now:
        raise PkiError(f"not valid before {cert.not_valid_before_utc.isoformat()}")
    if cert.not_valid_after_utc - now < RENEW_BEFORE:
        raise PkiError(f"expires {cert.not_valid_after_utc.isoformat()}")


def _load_sa_key(path: Path) -> rsa.RSAPrivateKey:
    try:
        pem = path.read_bytes()
    except FileNotFoundError:
        raise PkiError("missing") from None
    try:
        # The default validation (RSA_check_key, primality tests) costs ~53 ms; check the arithmetic instead.
        key = serialization.load_pem_private_key(pem, password=None, unsafe_skip_rsa_key_validation=True)
    except (ValueError, TypeError) as error:
        raise PkiError(f"does not parse: {error}") from None
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < SA_KEY_BITS:
        raise PkiError(f"want an RSA key of at least {SA_KEY_BITS} bits")
    numbers = key.private_numbers()
    p, q, d, e, n = numbers.p, numbers.q, numbers.d, numbers.public_numbers.e, numbers.public_numbers.n
    if not (
        p > 1
        and q > 1
        and p * q == n
        and (d * e) % math.lcm(p - 1, q - 1) == 1
        and numbers.dmp1 == d % (p - 1)
        and numbers.dmq1 == d % (q - 1)
        and (numbers.iqmp * q) % p == 1
    ):
        raise PkiError("RSA key parameters are inconsistent")
    _fix_private_mode(path)
    return key
