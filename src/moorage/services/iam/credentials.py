"""IAM users' access keys as credentials for SigV4 verification.

Each lookup reads the store (two primary-key reads: the key, then its user), with no cache: API
workers are separate processes, and a key that is deactivated or deleted must stop working at once.
"""

from __future__ import annotations

from ...core.context import Principal
from ...core.kinds import ACCESS_KEY, USER
from ...store import SqliteStore
from . import names
from .entities import entity_arn


class IamAccessKeys:
    """lookup(access_key_id) -> (secret, principal) for an Active IAM user key, else None."""

    def __init__(self, store: SqliteStore, partition: str = "aws"):
        self.store = store
        self.partition = partition

    def __call__(self, access_key_id: str) -> tuple[str, Principal] | None:
        account = names.account_of_access_key(access_key_id)
        if account is None:
            return None
        key = self.store.get(names.key(account, ACCESS_KEY, access_key_id))
        if key is None or key.spec["AccessKeyId"] != access_key_id or key.spec["Status"] != "Active":
            return None
        user = self.store.get(names.key(account, USER, key.spec["User"]))
        if user is None:
            return None
        arn = entity_arn(self.partition, account, USER, user.spec)
        return key.spec["SecretAccessKey"], Principal(account, arn, user.spec["UserId"], access_key_id)
