"""STS temporary credentials: issued by AssumeRole, AssumeRoleWithWebIdentity and GetSessionToken,
kept in the store (API workers are separate processes) and looked up by SigV4 verification.

A session's access key id starts with ASIA and, like IAM's AKIA keys, carries its account, so a
lookup is one primary-key read. The gateway accepts a session only with its own security token and
before it expires (sigv4.check_security_token).
"""

from __future__ import annotations

import base64
import secrets
import time
from dataclasses import dataclass

from ...core.context import Principal
from ...core.kinds import SESSION
from ...store import AlreadyExists, Conflict, Key, SqliteStore
from ..iam import names

SESSION_KEY_PREFIX = "ASIA"
# Expired sessions stay this long, so a late request still hears ExpiredToken rather than "invalid".
KEEP_EXPIRED_SECONDS = 24 * 3600


@dataclass(frozen=True)
class SessionPrincipal(Principal):
    """A principal signing with temporary credentials: `source_arn` is the role (or, for
    GetSessionToken, the user) whose identity policies apply."""

    source_arn: str = ""
    tags: tuple[tuple[str, str], ...] = ()
    transitive_tag_keys: tuple[str, ...] = ()
    policies: tuple[str, ...] = ()  # session policies: they further limit what the session may do

    @property
    def is_role_session(self) -> bool:
        return ":assumed-role/" in self.arn


def session_key(account: str, access_key_id: str) -> Key:
    return Key(account, names.GLOBAL, SESSION, access_key_id)


def new_session_key_id(account: str) -> str:
    return SESSION_KEY_PREFIX + names.new_access_key_id(account)[len(names.ACCESS_KEY_PREFIX):]


def account_of_session_key(access_key_id: str) -> str | None:
    if not access_key_id.startswith(SESSION_KEY_PREFIX):
        return None
    return names.account_of_access_key(names.ACCESS_KEY_PREFIX + access_key_id[len(SESSION_KEY_PREFIX):])


def new_session_token() -> str:
    # Opaque to clients, like STS's (which are a few hundred base64 characters).
    return base64.b64encode(b"moorage-session:" + secrets.token_bytes(180)).decode()


class StsSessions:
    """Issues sessions, and is the CredentialLookup that finds them (expired ones included: the
    gateway tells expired from unknown)."""

    def __init__(self, store: SqliteStore):
        self.store = store

    def __call__(self, access_key_id: str) -> tuple[str, Principal] | None:
        account = account_of_session_key(access_key_id)
        if account is None:
            return None
        record = self.store.get(session_key(account, access_key_id))
        if record is None:
            return None
        spec = record.spec
        principal = SessionPrincipal(
            account, spec["Arn"], spec["UserId"], access_key_id,
            session_token=spec["SessionToken"], expires_at=spec["Expiration"],
            source_arn=spec["SourceArn"],
            tags=tuple(sorted(spec.get("Tags", {}).items())),
            transitive_tag_keys=tuple(spec.get("TransitiveTagKeys", [])),
            policies=tuple(spec.get("Policies", [])),
        )
        return spec["SecretAccessKey"], principal

    def issue(
        self,
        account: str,
        arn: str,
        user_id: str,
        source_arn: str,
        duration: int,
        tags: dict[str, str] | None = None,
        transitive_tag_keys: list[str] | None = None,
        policies: list[str] | None = None,
    ) -> dict:
        """Store a new session; returns STS's Credentials structure."""
        now = time.time()
        self._forget_expired(account, now)
        expiration = int(now) + duration
        while True:
            access_key_id = new_session_key_id(account)
            spec = {
                "AccessKeyId": access_key_id,
                "SecretAccessKey": names.new_secret_access_key(),
                "SessionToken": new_session_token(),
                "Expiration": expiration,
                "Arn": arn,
                "UserId": user_id,
                "SourceArn": source_arn,
                "Tags": dict(tags or {}),
                "TransitiveTagKeys": list(transitive_tag_keys or []),
                "Policies": list(policies or []),
            }
            try:
                self.store.create(session_key(account, access_key_id), spec)
                break
            except AlreadyExists:  # 80 random bits: practically never
                continue
        return {
            "AccessKeyId": access_key_id,
            "SecretAccessKey": spec["SecretAccessKey"],
            "SessionToken": spec["SessionToken"],
            "Expiration": names.timestamp(expiration),
        }

    def _forget_expired(self, account: str, now: float) -> None:
        for record in self.store.list(account, names.GLOBAL, SESSION):
            if record.spec["Expiration"] + KEEP_EXPIRED_SECONDS < now:
                try:
                    self.store.remove(record)
                except Conflict:  # changed or removed by another writer meanwhile
                    pass
