"""Who a caller is inside a cluster (token webhook) and what its access policies allow (authorization webhook).

As EKS does it: in the API modes the caller's access entry decides (username, groups); in the
CONFIG_MAP modes aws-auth's mapRoles/mapUsers do, and in CONFIG_MAP mode the cluster creator is an
invisible system:masters mapping. With API_AND_CONFIG_MAP an access entry wins over aws-auth.
Anyone mapped by neither is not authenticated.

An access entry applies only to the IAM principal it was made for (its recorded unique id, see
access.py): for a principal recreated under the same ARN it is as if there were no entry. aws-auth
stays ARN-based, as aws-iam-authenticator maps by ARN.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

from ...core.context import Principal
from ...core.kinds import INSTANCE, NODEGROUP
from ...store import Key, Record, SqliteStore
from .access import API_MODES, authentication_mode, canonical_arn, entries_for_arn, find_entry
from .access_policies import POLICY_ARN_PREFIX, association_allows
from .aws_auth import AwsAuthSource, Mapping

TEMPLATE_RE = re.compile(r"\{\{(\w+)\}\}")


@dataclass(frozen=True)
class Caller:
    """A verified principal as the authenticator sees it (STS GetCallerIdentity's Arn, UserId, key)."""

    account: str
    arn: str
    canonical_arn: str
    user_id: str
    access_key_id: str
    session_name: str

    @classmethod
    def of(cls, principal: Principal) -> "Caller":
        session = principal.user_id.split(":", 1)[1] if ":" in principal.user_id else ""
        return cls(principal.account_id, principal.arn, canonical_arn(principal.arn), principal.user_id,
                   principal.access_key_id, session)

    def extra(self) -> dict[str, list[str]]:
        return {
            "accessKeyId": [self.access_key_id],
            "arn": [self.arn],
            "canonicalArn": [self.canonical_arn],
            "principalId": [self.user_id],
            "sessionName": [self.session_name],
        }


def render(template: str, caller: Caller, private_dns_name: Callable[[str], str | None]) -> str | None:
    """Fill aws-iam-authenticator's templates; None when {{EC2PrivateDNSName}} names no known instance."""
    missing = False

    def value(match: re.Match) -> str:
        nonlocal missing
        name = match.group(1)
        if name == "AccountID":
            return caller.account
        if name == "SessionName":
            return caller.session_name.replace("@", "-")
        if name == "SessionNameRaw":
            return caller.session_name
        if name == "AccessKeyID":
            return caller.access_key_id
        if name == "EC2PrivateDNSName":
            found = private_dns_name(caller.session_name)  # a node's session name is its instance id
            missing = missing or found is None
            return found or ""
        return match.group(0)

    rendered = TEMPLATE_RE.sub(value, template)
    return None if missing else rendered


class ClusterIdentities:
    def __init__(self, store: SqliteStore, aws_auth: AwsAuthSource):
        self.store = store
        self.aws_auth = aws_auth

    def private_dns_name(self, cluster: Record) -> Callable[[str], str | None]:
        def lookup(instance_id: str) -> str | None:
            launched = self.store.get(Key(cluster.key.account, cluster.key.region, INSTANCE, instance_id))
            if launched is not None and launched.status.get("nodeName"):
                return launched.status["nodeName"]
            for group in self.store.list(cluster.key.account, cluster.key.region, NODEGROUP):
                for instance in group.status.get("instances", []):
                    if instance.get("instanceId") == instance_id:
                        return instance["nodeName"]
            return None

        return lookup

    def _user(self, cluster: Record, caller: Caller, username: str, groups: list[str] | tuple[str, ...]) -> dict | None:
        dns = self.private_dns_name(cluster)
        name = render(username or caller.arn, caller, dns)
        rendered_groups = [render(g, caller, dns) for g in groups]
        if name is None or None in rendered_groups:
            return None
        return {
            "username": name,
            "uid": f"aws-iam-authenticator:{caller.account}:{caller.user_id.split(':', 1)[0]}",
            "groups": list(dict.fromkeys(["system:authenticated", *rendered_groups])),
            "extra": caller.extra(),
        }

    async def user_for(self, cluster: Record, principal: Principal) -> tuple[dict | None, str]:
        """The Kubernetes user for a verified principal, or (None, why not)."""
        caller = Caller.of(principal)
        mode = authentication_mode(cluster)
        if mode in API_MODES:
            entry = find_entry(self.store, cluster.key, caller.canonical_arn, caller.user_id)
            if entry is not None:
                user = self._user(cluster, caller, entry.spec["username"], entry.spec.get("kubernetesGroups", []))
                return user, "" if user else f"the access entry's username or groups could not be filled for {caller.arn}"
            if mode == "API":
                if next(entries_for_arn(self.store, cluster.key, caller.canonical_arn), None) is not None:
                    return None, (f"the access entry for {caller.canonical_arn} in cluster {cluster.key.name} was made for an "
                                  "earlier IAM principal with this ARN (its unique id differs); delete and recreate the entry")
                return None, f"{caller.arn} has no access entry in cluster {cluster.key.name}"
        access = cluster.spec.get("accessConfig") or {}
        creator = cluster.spec.get("_creator")
        if mode == "CONFIG_MAP" and creator and canonical_arn(creator) == caller.canonical_arn and access.get(
            "bootstrapClusterCreatorAdminPermissions", True
        ):
            return self._user(cluster, caller, caller.arn, ["system:masters"]), ""
        aws_auth = await self.aws_auth.get(cluster)
        if aws_auth is None:
            return None, f"aws-auth of cluster {cluster.key.name} could not be read"
        mapping: Mapping | None = aws_auth.users.get(caller.arn) or aws_auth.roles.get(caller.canonical_arn)
        if mapping is None:
            return None, f"{caller.arn} is not mapped in aws-auth or by an access entry of cluster {cluster.key.name}"
        user = self._user(cluster, caller, mapping.username, mapping.groups)
        return user, "" if user else f"aws-auth's username or groups could not be filled for {caller.arn}"


def _first_extra(extra: dict, name: str) -> str | None:
    for key, values in (extra or {}).items():
        if key.lower() == name.lower() and values:
            return values[0]
    return None


def access_policy_decision(store: SqliteStore, cluster: Record, review: dict) -> tuple[bool, str]:
    """A SubjectAccessReview's spec against the access policies of the caller's access entry:
    (True, reason) when one allows it in its scope, else (False, reason) meaning "no opinion"."""
    if authentication_mode(cluster) not in API_MODES:
        return False, "access policies apply only in the API authentication modes"
    extra = review.get("extra") or {}
    canonical = _first_extra(extra, "canonicalArn")
    if not canonical:
        return False, "not an IAM identity"
    # principalId is the caller's STS UserId, as the token webhook put it in extra.
    entry = find_entry(store, cluster.key, canonical, _first_extra(extra, "principalId") or "")
    if entry is None:
        return False, f"{canonical} has no access entry for its current unique id"
    for arn, association in sorted(entry.spec.get("policies", {}).items()):
        if association_allows(arn, association["accessScope"], review):
            return True, f"allowed by {arn.removeprefix(POLICY_ARN_PREFIX)} of the access entry for {entry.spec['principalArn']}"
    return False, "no associated access policy allows this"
