"""IAM's validation of policy documents, with its MalformedPolicyDocument messages, and
parse_policy, which validates and compiles a document for evaluation.
"""

from __future__ import annotations

import json
from typing import Any

from .policy_conditions import _FAMILIES, _LegacyParseError, _split_operator, _value_test
from .policy_language import (
    _ACCOUNT_ID,
    _AWS_PRINCIPAL_ARN,
    _FEDERATED_ARN,
    _FEDERATED_PROVIDERS,
    _IAM_RESOURCE_PREFIXES,
    _PARTITIONS,
    _SERVICE_PRINCIPAL,
    _TRUST_ACTIONS,
    _UNIQUE_ID,
    _VENDOR,
    CURRENT_VERSION,
    IDENTITY,
    LEGACY_ERROR,
    LEGACY_VERSION,
    MANAGED_POLICY_MAX_CHARS,
    PRINCIPAL_NOT_ALLOWED,
    RESOURCE,
    RESOURCE_POLICY_WITHOUT_PRINCIPAL,
    SYNTAX_ERROR,
    TRUST,
    TRUST_ACTIONS_ONLY,
    TRUST_POLICY_MAX_CHARS,
    TRUST_WITHOUT_PRINCIPAL,
    VERSION_ERROR,
    MalformedPolicy,
    PolicyTooLarge,
    policy_size,
)
from .policy_matching import _as_text, _compile
from .policy_statements import Policy, _as_list, _Statement

# --------------------------------------------------------------------------- validation


def parse_policy(
    document: str | dict, kind: str = IDENTITY, *, managed: bool = False, max_size: int | None = None
) -> Policy:
    """Validate a policy document as IAM does and compile it for evaluate().

    kind: "identity" (no Principal), "trust" (a role's trust policy) or "resource".
    managed: a managed policy (Version 2012-10-17 required, 6,144-character quota).
    max_size: the quota to enforce; defaults to the managed or trust policy quota, none otherwise
    (inline quotas count all of one identity's inline policies: see policy_size()).
    Raises MalformedPolicy or PolicyTooLarge.
    """
    if kind not in (IDENTITY, TRUST, RESOURCE):
        raise ValueError(f"unknown policy kind {kind!r}")
    if max_size is None:
        max_size = MANAGED_POLICY_MAX_CHARS if managed else TRUST_POLICY_MAX_CHARS if kind == TRUST else None
    text = document if isinstance(document, str) else json.dumps(document)
    if max_size is not None:
        size = policy_size(text)
        if size > max_size:
            raise PolicyTooLarge(size, max_size, "ACLSizePerRole" if kind == TRUST else "PolicySize")
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except (ValueError, RecursionError):
            raise MalformedPolicy(SYNTAX_ERROR) from None
    statements = _check_syntax(document, kind)
    version = document.get("Version", LEGACY_VERSION)
    if managed and version != CURRENT_VERSION:
        raise MalformedPolicy(VERSION_ERROR)
    variables = version == CURRENT_VERSION
    resource_error = _check_legacy_parsing(statements)
    _check_statement_ids(statements)
    _check_required_elements(statements, kind)
    if resource_error:
        raise MalformedPolicy(resource_error)
    for statement in statements:
        for action in _as_list(statement.get("Action")) + _as_list(statement.get("NotAction")):
            _check_action(action)
    if kind != IDENTITY:
        _check_principals(statements, kind)
    try:
        compiled = tuple(_Statement(s, variables) for s in statements)
    except _LegacyParseError:
        raise MalformedPolicy(LEGACY_ERROR) from None
    return Policy(
        kind, version, document, compiled,
        allows=tuple(s for s in compiled if not s.deny),
        denies=tuple(s for s in compiled if s.deny),
    )


def _is_text_or_texts(value: Any) -> bool:
    return isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value))


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (str, bool, int, float))


def _check_syntax(document: Any, kind: str) -> list[dict]:
    def fail() -> MalformedPolicy:
        return MalformedPolicy(SYNTAX_ERROR)

    if not isinstance(document, dict) or not set(document) <= {"Version", "Id", "Statement"}:
        raise fail()
    if "Version" in document and document["Version"] not in (CURRENT_VERSION, LEGACY_VERSION):
        raise fail()
    if "Id" in document and not isinstance(document["Id"], str):
        raise fail()
    raw = document.get("Statement")
    statements = [raw] if isinstance(raw, dict) else raw
    if not isinstance(statements, list) or not statements or not all(isinstance(s, dict) for s in statements):
        raise fail()
    if kind == IDENTITY and any("Principal" in s or "NotPrincipal" in s for s in statements):
        raise MalformedPolicy(PRINCIPAL_NOT_ALLOWED)
    allowed = {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition"}
    if kind != IDENTITY:
        allowed |= {"Principal", "NotPrincipal"}
    for statement in statements:
        if kind == TRUST:
            for prohibited in ("Resource", "NotResource"):
                if prohibited in statement:
                    raise MalformedPolicy(f"Has prohibited field {prohibited}")
        if not set(statement) <= allowed:
            raise fail()
        for first, second in (("Action", "NotAction"), ("Resource", "NotResource"), ("Principal", "NotPrincipal")):
            if first in statement and second in statement:
                raise fail()
        effect = statement.get("Effect")
        if not isinstance(effect, str) or effect.lower() not in ("allow", "deny"):
            raise fail()
        for key in ("Action", "NotAction", "Resource", "NotResource"):
            if key in statement and not _is_text_or_texts(statement[key]):
                raise fail()
        if "Sid" in statement and not isinstance(statement["Sid"], str):
            raise fail()
        for key in ("Principal", "NotPrincipal"):
            if key in statement and not _principal_shape_ok(statement[key]):
                raise fail()
        condition = statement.get("Condition", {})
        if not isinstance(condition, dict):
            raise fail()
        for operator_name, block in condition.items():
            if not isinstance(block, dict):
                raise fail()
            for values in block.values():
                if not (_is_scalar(values) or (isinstance(values, list) and all(_is_scalar(v) for v in values))):
                    raise fail()
            if block and _split_operator(operator_name) is None:
                raise fail()
    return statements


def _principal_shape_ok(element: Any) -> bool:
    if element == "*":
        return True
    return (
        isinstance(element, dict)
        and bool(element)
        and set(element) <= {"AWS", "Service", "Federated", "CanonicalUser"}
        and all(_is_text_or_texts(v) for v in element.values())
    )


def _check_legacy_parsing(statements: list[dict]) -> str | None:
    """Raise for what fails IAM's legacy parser; return the first resource format message."""
    first_resource_error = None
    for statement in statements:
        if statement["Effect"] not in ("Allow", "Deny"):  # the legacy parser is case-sensitive
            raise MalformedPolicy(LEGACY_ERROR)
        for operator_name, block in (statement.get("Condition") or {}).items():
            split = _split_operator(operator_name)
            if split is None:
                continue
            family = _FAMILIES[split[1]][0]
            if family.startswith(("date", "numeric")) or family == "ip":
                for values in block.values():
                    for value in _as_list(values):
                        try:
                            _value_test(family, _as_text(value), variables=False)
                        except _LegacyParseError:
                            raise MalformedPolicy(LEGACY_ERROR) from None
        for key in ("Resource", "NotResource"):
            for resource in _as_list(statement.get(key)):
                legacy_failure, message = _check_resource(resource)
                if legacy_failure:
                    raise MalformedPolicy(LEGACY_ERROR)
                first_resource_error = first_resource_error or message
    return first_resource_error


def _check_resource(resource: str) -> tuple[bool, str | None]:
    """(fails legacy parsing, resource format message) for one Resource entry."""
    if resource == "*":
        return False, None
    if ":" not in resource:
        return False, f'Resource {resource} must be in ARN format or "*".'
    fields = resource.split(":")
    partition = fields[1]
    if partition not in _PARTITIONS:
        rest = fields[2:]
        shown = [
            rest[0] if rest and (rest[0] or len(rest) > 1) else "*",
            rest[1] if len(rest) > 1 else "*",
            rest[2] if len(rest) > 2 else "*",
            ":".join(rest[3:]) if len(rest) > 3 else "*",
        ]
        return False, f'Partition "{partition}" is not valid for resource "arn:{partition}:{":".join(shown)}".'
    if len(fields) == 2:
        return False, "Resource vendor must be fully qualified and cannot contain regexes."
    if len(fields) in (4, 5):
        return True, None
    if len(fields) == 3:
        return False, None
    service, region, path = fields[2], fields[3], ":".join(fields[5:])
    if not service:
        return True, None
    if service == "iam" and region:
        return False, f"IAM resource {resource} cannot contain region information."
    if service == "s3" and region:
        return False, f"Resource {resource} can not contain region information."
    if service == "iam" and path != "*" and not path.startswith(_IAM_RESOURCE_PREFIXES):
        return False, 'IAM resource path must either be "*" or start with ' + ", ".join(_IAM_RESOURCE_PREFIXES) + "."
    return False, None


def _check_statement_ids(statements: list[dict]) -> None:
    seen: set[str] = set()
    for statement in statements:
        sid = statement.get("Sid")
        if sid:
            if sid in seen:
                raise MalformedPolicy("Statement IDs (SID) in a single policy must be unique.")
            seen.add(sid)


def _check_required_elements(statements: list[dict], kind: str) -> None:
    def present(statement: dict, key: str) -> bool:  # "" is present (and then malformed); [] is not
        return key in statement and statement[key] != []

    for statement in statements:
        if not (present(statement, "Action") or present(statement, "NotAction")):
            raise MalformedPolicy("Policy statement must contain actions.")
    if kind == TRUST:
        return
    for statement in statements:
        if not (present(statement, "Resource") or present(statement, "NotResource")):
            raise MalformedPolicy("Policy statement must contain resources.")


def _check_action(action: str) -> None:
    if action == "*":
        return
    fields = action.split(":")
    if len(fields) == 1:
        raise MalformedPolicy("Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc.")
    if len(fields) > 2:
        raise MalformedPolicy("Actions/Condition can contain only one colon.")
    vendor = fields[0]
    if vendor != "*" and not _VENDOR.fullmatch(vendor):
        raise MalformedPolicy(f"Vendor {vendor} is not valid")


def _check_principals(statements: list[dict], kind: str) -> None:
    for statement in statements:
        element = statement.get("Principal", statement.get("NotPrincipal"))
        if element is None:
            raise MalformedPolicy(TRUST_WITHOUT_PRINCIPAL if kind == TRUST else RESOURCE_POLICY_WITHOUT_PRINCIPAL)
        if kind == TRUST:
            for action in _as_list(statement.get("Action")) + _as_list(statement.get("NotAction")):
                if not _is_trust_action(action.lower()):
                    raise MalformedPolicy(TRUST_ACTIONS_ONLY)
        if element == "*":
            continue
        for principal_type, values in element.items():
            for value in _as_list(values):
                if not _principal_value_ok(principal_type, value):
                    raise MalformedPolicy(f'Invalid principal in policy: "{principal_type.upper()}":"{value}"')


def _is_trust_action(action: str) -> bool:
    if action in _TRUST_ACTIONS:
        return True
    if "*" in action or "?" in action:  # sts:AssumeRole*, sts:*, *
        regex = _compile(((action, True),), False, False)
        return any(regex.fullmatch(a) for a in _TRUST_ACTIONS)
    return False


def _principal_value_ok(principal_type: str, value: str) -> bool:
    if principal_type == "AWS":
        return (
            value == "*"
            or _ACCOUNT_ID.fullmatch(value) is not None
            or _AWS_PRINCIPAL_ARN.fullmatch(value) is not None
            or _UNIQUE_ID.fullmatch(value) is not None
        )
    if principal_type == "Service":
        return _SERVICE_PRINCIPAL.fullmatch(value) is not None
    if principal_type == "Federated":
        return value in _FEDERATED_PROVIDERS or _FEDERATED_ARN.fullmatch(value) is not None
    return bool(value)  # CanonicalUser ids are opaque
