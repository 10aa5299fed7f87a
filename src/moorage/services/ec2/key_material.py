"""Key-pair material as EC2 makes and reads it: new RSA and ED25519 keys (PEM/OpenSSH or PuTTY .ppk),
imported public keys (OpenSSH, RFC 4716 or base64 DER), and EC2's fingerprints.

EC2's fingerprints (API reference, KeyPairInfo.KeyFingerprint):
- RSA key created by EC2: SHA-1 of the private key in PKCS#8 DER, hex pairs joined by colons;
- RSA key imported: MD5 of the public key in DER (SubjectPublicKeyInfo), hex pairs joined by colons
  (what `openssl pkey -pubout -outform DER | openssl md5 -c` prints);
- ED25519, created or imported: base64 of the SHA-256 of the OpenSSH public key blob, padded
  (OpenSSH's SHA256 fingerprint without its prefix, with the `=` OpenSSH drops).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from ...core.errors import AwsError

RSA_BITS = 2048  # what CreateKeyPair makes
IMPORTABLE_RSA_BITS = (1024, 2048, 4096)  # what ImportKeyPair takes (EC2 user guide)


@dataclass(frozen=True)
class KeyMaterial:
    key_type: str  # rsa | ed25519
    public_key: str  # OpenSSH one-line form: "<algorithm> <base64 blob> <comment>"
    fingerprint: str
    private_key: str | None = None  # only when EC2 made the key; returned once, never stored


def _colon_hex(digest: bytes) -> str:
    return ":".join(f"{b:02x}" for b in digest)


def _ssh_blob(public_key) -> bytes:
    line = public_key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return base64.b64decode(line.split()[1])


def sha256_fingerprint(public_key) -> str:
    return base64.b64encode(hashlib.sha256(_ssh_blob(public_key)).digest()).decode()


def _openssh_line(public_key, comment: str) -> str:
    line = public_key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    return f"{line} {comment}" if comment else line


# --- PuTTY's .ppk (version 2, unencrypted), which KeyFormat=ppk returns -----------------------------


def _string(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def _mpint(value: int) -> bytes:
    data = value.to_bytes((value.bit_length() + 8) // 8, "big") if value else b""
    return _string(data)


def _lines(data: bytes) -> list[str]:
    text = base64.b64encode(data).decode()
    return [text[i:i + 64] for i in range(0, len(text), 64)]


def ppk(private_key, comment: str) -> str:
    """A PuTTY-User-Key-File-2 with no passphrase (its MAC keyed with SHA-1 of the fixed prefix, as PuTTY does)."""
    public_blob = _ssh_blob(private_key.public_key())
    if isinstance(private_key, rsa.RSAPrivateKey):
        algorithm = "ssh-rsa"
        numbers = private_key.private_numbers()
        private_blob = _mpint(numbers.d) + _mpint(numbers.p) + _mpint(numbers.q) + _mpint(numbers.iqmp)
    else:
        algorithm = "ssh-ed25519"
        raw = private_key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                        serialization.NoEncryption())
        private_blob = _string(raw.rstrip(b"\0"))  # PuTTY writes the key as an unsigned little-endian integer
    mac_key = hashlib.sha1(b"putty-private-key-file-mac-key").digest()
    mac_data = b"".join(_string(p) for p in (algorithm.encode(), b"none", comment.encode(), public_blob, private_blob))
    mac = hmac.new(mac_key, mac_data, hashlib.sha1).hexdigest()
    public_lines, private_lines = _lines(public_blob), _lines(private_blob)
    return "\r\n".join([
        f"PuTTY-User-Key-File-2: {algorithm}", "Encryption: none", f"Comment: {comment}",
        f"Public-Lines: {len(public_lines)}", *public_lines,
        f"Private-Lines: {len(private_lines)}", *private_lines,
        f"Private-MAC: {mac}",
    ]) + "\r\n"


# --- CreateKeyPair ------------------------------------------------------------------------------------


def new_key(key_type: str, key_format: str, name: str) -> KeyMaterial:
    """A fresh key pair; the private key in EC2's form: RSA in PEM (PKCS#1), ED25519 in OpenSSH's, or .ppk."""
    if key_type == "ed25519":
        private_key = ed25519.Ed25519PrivateKey.generate()
        fingerprint = sha256_fingerprint(private_key.public_key())
        private_format = serialization.PrivateFormat.OpenSSH
    else:
        private_key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
        pkcs8 = private_key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption())
        fingerprint = _colon_hex(hashlib.sha1(pkcs8).digest())
        private_format = serialization.PrivateFormat.TraditionalOpenSSL
    if key_format == "ppk":
        material = ppk(private_key, name)
    else:
        material = private_key.private_bytes(serialization.Encoding.PEM, private_format,
                                             serialization.NoEncryption()).decode().rstrip("\n")
    return KeyMaterial(key_type, _openssh_line(private_key.public_key(), name), fingerprint, material)


# --- ImportKeyPair ------------------------------------------------------------------------------------


def invalid_format() -> AwsError:
    return AwsError("InvalidKey.Format", "Key is not in valid OpenSSH public key format")


def _rfc4716_body(text: str) -> bytes | None:
    """The key blob of an RFC 4716 ("---- BEGIN SSH2 PUBLIC KEY ----") file, headers skipped."""
    lines = [line.strip() for line in text.strip().splitlines()]
    if len(lines) < 3 or lines[0] != "---- BEGIN SSH2 PUBLIC KEY ----" or lines[-1] != "---- END SSH2 PUBLIC KEY ----":
        return None
    body, continued = [], False
    for line in lines[1:-1]:
        if continued or ":" in line:
            continued = line.endswith("\\")
            continue
        body.append(line)
    return base64.b64decode("".join(body), validate=True)


def _load_public(material: bytes):
    text = material.decode("ascii").strip()
    if text.startswith(("ssh-rsa ", "ssh-ed25519 ")):
        return serialization.load_ssh_public_key(" ".join(text.split()[:2]).encode()), " ".join(text.split()[2:])
    blob = _rfc4716_body(text)
    if blob is not None:
        algorithm = blob[4:4 + struct.unpack(">I", blob[:4])[0]].decode()
        return serialization.load_ssh_public_key(f"{algorithm} {base64.b64encode(blob).decode()}".encode()), ""
    return serialization.load_der_public_key(base64.b64decode(text, validate=True)), ""


def imported_key(material: bytes, name: str) -> KeyMaterial:
    """The public key ImportKeyPair was given, or EC2's InvalidKey.Format."""
    try:
        public_key, comment = _load_public(material)
    except (ValueError, UnicodeDecodeError, binascii.Error, struct.error, IndexError, TypeError):
        raise invalid_format() from None
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return KeyMaterial("ed25519", _openssh_line(public_key, comment or name), sha256_fingerprint(public_key))
    if isinstance(public_key, rsa.RSAPublicKey):
        if public_key.key_size not in IMPORTABLE_RSA_BITS:
            raise AwsError("InvalidKey.Format", "Key is not in valid OpenSSH public key format")
        der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        return KeyMaterial("rsa", _openssh_line(public_key, comment or name), _colon_hex(hashlib.md5(der).digest()))
    raise invalid_format()  # DSA and ECDSA keys: EC2 takes RSA and ED25519 only
