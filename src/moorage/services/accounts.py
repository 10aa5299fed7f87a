"""The Moorage account: created on first start with root credentials, and the `moorage` AWS profile.

MOORAGE_ACCOUNT_ID, MOORAGE_ROOT_ACCESS_KEY_ID and MOORAGE_ROOT_SECRET_ACCESS_KEY preset the
account at first start (CI and tests); afterwards the stored account wins, so restarts never
change credentials under a user's feet.
"""

from __future__ import annotations

import configparser
import os
import re
import secrets
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from ..core.context import Principal
from ..store import SqliteStore

ROOT_ACCOUNT_SETTING = "root-account"
PROFILE_NAME = "moorage"
DEFAULT_REGION = "us-east-1"
_KEY_ALPHABET = string.ascii_uppercase + "234567"
_SECRET_ALPHABET = string.ascii_letters + string.digits + "+/"


@dataclass(frozen=True)
class RootAccount:
    account_id: str
    access_key_id: str
    secret_access_key: str

    @property
    def arn(self) -> str:
        return f"arn:aws:iam::{self.account_id}:root"


class AccountConfigError(ValueError):
    pass


def _new_account() -> RootAccount:
    account_id = str(secrets.randbelow(9 * 10**11) + 10**11)
    access_key_id = "AKIA" + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(16))
    secret = "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(40))
    return RootAccount(account_id, access_key_id, secret)


def _from_environment() -> RootAccount | None:
    account_id = os.environ.get("MOORAGE_ACCOUNT_ID")
    key = os.environ.get("MOORAGE_ROOT_ACCESS_KEY_ID")
    secret = os.environ.get("MOORAGE_ROOT_SECRET_ACCESS_KEY")
    if not (account_id or key or secret):
        return None
    generated = _new_account()
    account = RootAccount(account_id or generated.account_id, key or generated.access_key_id, secret or generated.secret_access_key)
    if not re.fullmatch(r"\d{12}", account.account_id):
        raise AccountConfigError(f"MOORAGE_ACCOUNT_ID must be 12 digits, got {account.account_id!r}")
    if not re.fullmatch(r"[A-Z0-9]{16,128}", account.access_key_id):
        raise AccountConfigError("MOORAGE_ROOT_ACCESS_KEY_ID must be 16-128 upper-case letters and digits")
    if len(account.secret_access_key) < 16:
        raise AccountConfigError("MOORAGE_ROOT_SECRET_ACCESS_KEY must be at least 16 characters")
    return account


def ensure_root_account(store: SqliteStore) -> tuple[RootAccount, bool]:
    """The stored root account, creating it on first start; returns (account, created_now)."""
    stored = store.setting(ROOT_ACCOUNT_SETTING)
    if stored:
        return RootAccount(**stored), False
    candidate = _from_environment() or _new_account()
    kept = store.set_setting(ROOT_ACCOUNT_SETTING, candidate.__dict__, only_if_absent=True)
    account = RootAccount(**kept)
    return account, account == candidate


def _aws_file(env_name: str, default: str) -> Path:
    return Path(os.environ.get(env_name) or Path.home() / ".aws" / default).expanduser()


def _has_section(path: Path, section: str) -> bool:
    parser = configparser.RawConfigParser()
    try:
        parser.read(path)
    except configparser.Error:
        return True  # a file we can't parse is left alone rather than risk damaging it
    return parser.has_section(section)


def _append_section(path: Path, section: str, values: dict[str, str]) -> None:
    """Append, never rewrite: the user's comments and other profiles stay exactly as they were."""
    path.parent.mkdir(parents=True, exist_ok=True)
    existing = path.read_text() if path.exists() else ""
    lines = [f"[{section}]", *(f"{name} = {value}" for name, value in values.items())]
    separator = "" if not existing or existing.endswith("\n\n") else ("\n" if existing.endswith("\n") else "\n\n")
    # Created private (0600), never briefly world-readable: the credentials file holds a secret key.
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600), "a") as handle:
        handle.write(separator + "\n".join(lines) + "\n")
    path.chmod(0o600)


def aws_profile_settings() -> dict[str, str] | None:
    """The settings of [profile moorage] in the user's AWS config file, or None if it has none."""
    parser = configparser.RawConfigParser()
    try:
        parser.read(_aws_file("AWS_CONFIG_FILE", "config"))
    except configparser.Error:
        return None
    section = f"profile {PROFILE_NAME}"
    return dict(parser.items(section)) if parser.has_section(section) else None


def ensure_aws_profile(account: RootAccount, endpoint_url: str, region: str = DEFAULT_REGION,
                       ca_bundle: Path | None = None) -> list[Path]:
    """Add [profile moorage] and its credentials to the user's AWS files if absent; returns files written.
    With TLS, the profile names the Moorage CA as its ``ca_bundle``. An existing profile is never changed."""
    written: list[Path] = []
    config_path = _aws_file("AWS_CONFIG_FILE", "config")
    if not _has_section(config_path, f"profile {PROFILE_NAME}"):
        values = {"region": region, "endpoint_url": endpoint_url, "output": "json"}
        if ca_bundle is not None:
            values["ca_bundle"] = str(ca_bundle)
        _append_section(config_path, f"profile {PROFILE_NAME}", values)
        written.append(config_path)
    credentials_path = _aws_file("AWS_SHARED_CREDENTIALS_FILE", "credentials")
    if not _has_section(credentials_path, PROFILE_NAME):
        _append_section(
            credentials_path,
            PROFILE_NAME,
            {"aws_access_key_id": account.access_key_id, "aws_secret_access_key": account.secret_access_key},
        )
        written.append(credentials_path)
    return written


# lookup(access_key_id) -> (secret access key, principal), or None when the key is not one it knows.
CredentialLookup = Callable[[str], "tuple[str, Principal] | None"]


class CredentialStore:
    """Looks up secrets and principals by access key id: the root account's key, then each lookup
    (IAM users' access keys; STS session credentials later) in turn."""

    def __init__(self, root: RootAccount, lookups: Iterable[CredentialLookup] = ()):
        self.root = root
        self.lookups = list(lookups)

    def resolve(self, access_key_id: str) -> tuple[str, Principal] | None:
        if access_key_id == self.root.access_key_id:
            root = Principal(self.root.account_id, self.root.arn, self.root.account_id, access_key_id)
            return self.root.secret_access_key, root
        for lookup in self.lookups:
            found = lookup(access_key_id)
            if found is not None:
                return found
        return None

    def secret_for(self, access_key_id: str) -> str | None:
        found = self.resolve(access_key_id)
        return found[0] if found else None

    def principal_for(self, access_key_id: str) -> Principal | None:
        found = self.resolve(access_key_id)
        return found[1] if found else None
