"""What applies to a principal, for the authorisation of its calls: its identity policies and its tags.

Principals are named by ARN: arn:aws:iam::<account>:user/<path><name>, arn:aws:iam::<account>:role/<path><name>,
or an STS session arn:aws:sts::<account>:assumed-role/<role name>/<session name> (the role's policies
apply). The account root and unknown ARNs have no identity policies.
"""

from __future__ import annotations

from ...core.kinds import GROUP, ROLE, USER
from ...store import Record, SqliteStore
from . import names
from .entities import NAME_FIELD, IamStore, entity_arn
from .managed import ManagedPolicies, default_document


def principal_record(store: SqliteStore, principal_arn: str) -> tuple[str, Record] | None:
    """(kind, record) of the user or role an ARN names, if it exists with exactly that path and name."""
    parsed = names.parse_arn(principal_arn)
    if parsed is None:
        return None
    service, account, resource, parts = parsed
    if service == "iam" and resource in ("user", "role") and parts:
        kind = USER if resource == "user" else ROLE
        path = "/" + "".join(part + "/" for part in parts[:-1])
        record = store.get(names.key(account, kind, parts[-1]))
        if record is not None and record.spec["Path"] == path and record.spec[NAME_FIELD[kind]] == parts[-1]:
            return kind, record
    elif service == "sts" and resource == "assumed-role" and len(parts) == 2:
        record = store.get(names.key(account, ROLE, parts[0]))
        if record is not None and record.spec["RoleName"] == parts[0]:
            return ROLE, record
    return None


def identity_policy_documents(store: SqliteStore, principal_arn: str) -> list[tuple[str, str]]:
    """(label, document) of every identity-based policy that applies: the user's inline and attached
    policies and those of its groups, or the role's. The label names the policy in logs and denials."""
    found = principal_record(store, principal_arn)
    if found is None:
        return []
    kind, record = found
    account = record.key.account
    entities = IamStore(store)
    policies = ManagedPolicies(entities)
    holders = [(kind, record.spec)]
    if kind == USER:
        groups = (entities.find(account, GROUP, name) for name in record.spec.get("Groups", []))
        holders += [(GROUP, group.spec) for group in groups if group is not None]
    documents: list[tuple[str, str]] = []
    for holder_kind, spec in holders:
        holder = f"{holder_kind[len('iam-'):]} {spec[NAME_FIELD[holder_kind]]}"
        documents += [(f"inline policy {name} of {holder}", text) for name, text in spec.get("InlinePolicies", {}).items()]
        for policy_arn in spec.get("AttachedPolicies", []):
            policy = policies.find(account, policy_arn)
            if policy is not None:
                documents.append((policy_arn, default_document(policy[0])))
    return documents


def identity_policies(store: SqliteStore, principal_arn: str) -> list[str]:
    """The documents of identity_policy_documents()."""
    return [document for _, document in identity_policy_documents(store, principal_arn)]


def boundary_document(store: SqliteStore, principal_arn: str) -> tuple[str, str | None] | None:
    """(boundary policy ARN, its document) when the principal has a permissions boundary; the document
    is None when the policy it names does not exist (the authorizer then denies: nothing fails open)."""
    found = principal_record(store, principal_arn)
    boundary = found[1].spec.get("PermissionsBoundary") if found else None
    if not boundary:
        return None
    policy = ManagedPolicies(IamStore(store)).find(found[1].key.account, boundary)
    return boundary, (default_document(policy[0]) if policy else None)


def permissions_boundary(store: SqliteStore, principal_arn: str) -> str | None:
    """The document of the principal's permissions boundary, if it has one (and it exists)."""
    found = boundary_document(store, principal_arn)
    return found[1] if found else None


def principal_tags(store: SqliteStore, principal_arn: str) -> dict[str, str]:
    """The user's or role's tags (aws:PrincipalTag/<key>)."""
    found = principal_record(store, principal_arn)
    return {tag["Key"]: tag["Value"] for tag in found[1].spec.get("Tags", [])} if found else {}


def instance_profile_role_arn(store: SqliteStore, partition: str, account: str, profile_name: str) -> str | None:
    """The ARN of the role an instance profile carries (what an EC2 instance's credentials are for)."""
    profile = store.get(names.key(account, names.INSTANCE_PROFILE, profile_name))
    if profile is None or not profile.spec["Roles"]:
        return None
    role = store.get(names.key(account, ROLE, profile.spec["Roles"][0]))
    if role is None:
        return None
    return entity_arn(partition, account, ROLE, role.spec)
