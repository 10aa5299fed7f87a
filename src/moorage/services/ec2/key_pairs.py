"""EC2 key pairs: CreateKeyPair, ImportKeyPair, DescribeKeyPairs, DeleteKeyPair, and the lookup EKS
uses to check a node group's remoteAccess.ec2SshKey (key_pair_exists).

A key pair is a store record (kind key-pair, named by its id `key-` + 17 hex digits) holding the
public key and its fingerprint; a created key's private key is returned once and never stored.
Names are unique per account and region: of two concurrent creators of one name, the later withdraws.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone

from ...core.context import RequestContext
from ...core.errors import AwsError
from ...core.kinds import KEY_PAIR
from ...store import SqliteStore
from .filters import filtered
from .key_material import imported_key, new_key
from .network import new_resource_id
from .network_ops import NetworkStore, tags_to_create

MAX_NAME_LENGTH = 255


def key_pairs(store: SqliteStore, account: str, region: str) -> list[dict]:
    return [r.spec for r in store.list(account, region, KEY_PAIR)]


def find_key_pair(store: SqliteStore, account: str, region: str, name: str) -> dict | None:
    """The key pair of that name (its stored spec, public key included), or None."""
    return next((k for k in key_pairs(store, account, region) if k["KeyName"] == name), None)


def key_pair_exists(store: SqliteStore, account: str, region: str, name: str) -> bool:
    """Whether EC2 has a key pair of that name in the account and region (EKS's remoteAccess.ec2SshKey check)."""
    return find_key_pair(store, account, region, name) is not None


def duplicate(name: str) -> AwsError:
    return AwsError("InvalidKeyPair.Duplicate", f"The keypair '{name}' already exists.")


def not_found(name: str) -> AwsError:
    return AwsError("InvalidKeyPair.NotFound", f"The key pair '{name}' does not exist")


def id_not_found(key_pair_id: str) -> AwsError:
    return AwsError("InvalidKeyPair.NotFound", f"The key pair ID '{key_pair_id}' does not exist")


def key_pair_view(spec: dict, include_public_key: bool = False) -> dict:
    view = {k: v for k, v in spec.items() if k not in ("PublicKey", "CreateTime")}
    view["CreateTime"] = datetime.fromtimestamp(spec["CreateTime"], timezone.utc)
    if include_public_key:
        view["PublicKey"] = spec["PublicKey"]
    return view


def _check_name(name: str) -> None:
    if not name.strip():
        raise AwsError("MissingParameter", "The request must contain the parameter KeyName")
    if len(name) > MAX_NAME_LENGTH or not name.isascii():
        raise AwsError(
            "InvalidParameterValue",
            f"Value ({name}) for parameter keyName is invalid. Key names must be ASCII and at most {MAX_NAME_LENGTH} characters.",
        )


class KeyPairOperations(NetworkStore):
    # --- key pairs ----------------------------------------------------------------------------------

    def _store_key_pair(self, ctx: RequestContext, params: dict, material) -> dict:
        name = params["KeyName"]
        tags = tags_to_create(params, KEY_PAIR)
        if key_pair_exists(self.store, ctx.account, ctx.region, name):
            raise duplicate(name)
        key_pair_id = new_resource_id("key")
        spec = {
            "KeyPairId": key_pair_id,
            "KeyName": name,
            "KeyFingerprint": material.fingerprint,
            "KeyType": material.key_type,
            "PublicKey": material.public_key,
            "CreateTime": time.time(),
            "Tags": tags,
        }
        record = self.store.create(self._key(ctx, KEY_PAIR, key_pair_id), spec)
        rivals = [r for r in self.store.list(ctx.account, ctx.region, KEY_PAIR)
                  if r.spec["KeyName"] == name and r.key.name != key_pair_id]
        if any((r.created_at, r.key.name) < (record.created_at, key_pair_id) for r in rivals):
            self._delete(ctx, KEY_PAIR, key_pair_id)
            raise duplicate(name)
        return spec

    def CreateKeyPair(self, ctx: RequestContext, params: dict) -> dict:
        _check_name(params["KeyName"])
        key_type, key_format = params.get("KeyType") or "rsa", params.get("KeyFormat") or "pem"
        material = new_key(key_type, key_format, params["KeyName"])
        spec = self._store_key_pair(ctx, params, material)
        return {
            "KeyPairId": spec["KeyPairId"],
            "KeyName": spec["KeyName"],
            "KeyFingerprint": spec["KeyFingerprint"],
            "KeyMaterial": material.private_key,
            "Tags": spec["Tags"],
        }

    def ImportKeyPair(self, ctx: RequestContext, params: dict) -> dict:
        _check_name(params["KeyName"])
        raw = params.get("PublicKeyMaterial") or b""
        material = imported_key(raw if isinstance(raw, bytes) else str(raw).encode(), params["KeyName"])
        spec = self._store_key_pair(ctx, params, material)
        return {k: spec[k] for k in ("KeyPairId", "KeyName", "KeyFingerprint", "Tags")}

    def DescribeKeyPairs(self, ctx: RequestContext, params: dict) -> dict:
        found = sorted(key_pairs(self.store, ctx.account, ctx.region), key=lambda k: k["KeyName"])
        by_name = {k["KeyName"]: k for k in found}
        by_id = {k["KeyPairId"]: k for k in found}
        if params.get("KeyNames"):
            for name in params["KeyNames"]:
                if name not in by_name:
                    raise not_found(name)
            found = [k for k in found if k["KeyName"] in params["KeyNames"]]
        if params.get("KeyPairIds"):
            for key_pair_id in params["KeyPairIds"]:
                if key_pair_id not in by_id:
                    raise id_not_found(key_pair_id)
            found = [k for k in found if k["KeyPairId"] in params["KeyPairIds"]]
        views = [key_pair_view(k, bool(params.get("IncludePublicKey"))) for k in found]
        return {"KeyPairs": filtered("DescribeKeyPairs", views, params.get("Filters"))}

    def DeleteKeyPair(self, ctx: RequestContext, params: dict) -> dict:
        """Idempotent, as on EC2: deleting a key pair that does not exist succeeds."""
        name, key_pair_id = params.get("KeyName"), params.get("KeyPairId")
        if not name and not key_pair_id:
            raise AwsError("MissingParameter", "The request must contain the parameter KeyName or KeyPairId")
        for spec in key_pairs(self.store, ctx.account, ctx.region):
            if (key_pair_id and spec["KeyPairId"] == key_pair_id) or (not key_pair_id and spec["KeyName"] == name):
                self._delete(ctx, KEY_PAIR, spec["KeyPairId"])
                return {"Return": True, "KeyPairId": spec["KeyPairId"]}
        return {"Return": True}
