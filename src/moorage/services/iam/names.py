"""Every IAM-visible string formed in one place: ids, access keys, ARNs, record keys, error messages.

IAM is global: its records live under the fixed region GLOBAL. Names are unique per account without
regard to case (IAM refuses "Bob" when "bob" exists), so record names are the lower-cased entity names
and the spec keeps the name as the caller wrote it.
"""

from __future__ import annotations

import base64
import re
import secrets
import string
from datetime import datetime, timezone
from urllib.parse import quote

from ...core.errors import AwsError
from ...core.kinds import ACCESS_KEY, GROUP, INSTANCE_PROFILE, POLICY, ROLE, SLR_DELETION, USER
from ...store import Key

GLOBAL = "global"


# The first four characters of an IAM unique id say what it names.
ID_PREFIXES = {USER: "AIDA", GROUP: "AGPA", ROLE: "AROA", POLICY: "ANPA", INSTANCE_PROFILE: "AIPA"}
ACCESS_KEY_PREFIX = "AKIA"
_BASE32 = string.ascii_uppercase + "234567"
_SECRET_ALPHABET = string.ascii_letters + string.digits + "+/"

AWS_POLICY_ARN_PREFIX = "arn:aws:iam::aws:policy"
ARN_RE = re.compile(r"^arn:(aws|aws-us-gov|aws-cn):(iam|sts)::(\d{12}|aws):([a-z-]+)(/.*)?$")


def key(account: str, kind: str, name: str) -> Key:
    return Key(account, GLOBAL, kind, name.lower())


def new_unique_id(kind: str) -> str:
    """21 characters: the kind's prefix and 17 base32 characters, e.g. AIDAJQABLZS4A3QDU576Q."""
    return ID_PREFIXES[kind] + "".join(secrets.choice(_BASE32) for _ in range(17))


# Access key ids carry their account, as AWS's do (GetAccessKeyInfo reads it back): after AKIA come
# ten base32-encoded bytes whose first six hold the account id in bits 7..46. So finding a key is one
# primary-key read in the right account, with no table of all keys across accounts.
_ACCOUNT_MASK = 0x7FFFFFFFFF80


def new_access_key_id(account: str) -> str:
    high = (int(account) << 7) | (secrets.randbits(1) << 47) | secrets.randbits(7)
    raw = high.to_bytes(6, "big") + secrets.token_bytes(4)
    return ACCESS_KEY_PREFIX + base64.b32encode(raw).decode()


def account_of_access_key(access_key_id: str) -> str | None:
    """The 12-digit account an AKIA key id names, or None if it is not one of ours."""
    if len(access_key_id) != 20 or not access_key_id.startswith(ACCESS_KEY_PREFIX):
        return None
    try:
        raw = base64.b32decode(access_key_id[4:])
    except ValueError:
        return None
    account = (int.from_bytes(raw[:6], "big") & _ACCOUNT_MASK) >> 7
    return f"{account:012d}" if account < 10**12 else None


def new_secret_access_key() -> str:
    return "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(40))


def arn(partition: str, account: str, resource: str, path: str, name: str) -> str:
    """arn:aws:iam::<account>:<resource><path><name>, e.g. arn:aws:iam::111122223333:user/admins/bob."""
    return f"arn:{partition}:iam::{account}:{resource}{path}{name}"


def parse_arn(text: str) -> tuple[str, str, str, list[str]] | None:
    """(service, account, resource type, path segments) of an IAM or STS ARN, or None.

    arn:aws:iam::1:user/a/b/bob -> ("iam", "1", "user", ["a", "b", "bob"]);
    arn:aws:sts::1:assumed-role/r/s -> ("sts", "1", "assumed-role", ["r", "s"]).
    """
    match = ARN_RE.match(text)
    if not match:
        return None
    _, service, account, resource, rest = match.groups()
    return service, account, resource, [part for part in (rest or "").split("/") if part]


def policy_arn(partition: str, account: str, path: str, name: str) -> str:
    return arn(partition, account, "policy", path, name)


def timestamp(epoch: float) -> datetime:
    return datetime.fromtimestamp(int(epoch), timezone.utc)


def url_encoded(document: str) -> str:
    """IAM returns policy documents URL-encoded (RFC 3986); boto3 and the CLI decode them."""
    return quote(document, safe="")


# --- errors, in IAM's words ------------------------------------------------------------------------

_ENTITY_WORDS = {USER: "user", GROUP: "group", ROLE: "role"}
_NOT_FOUND = {
    USER: "The user with name {} cannot be found.",
    GROUP: "The group with name {} cannot be found.",
    ROLE: "The role with name {} cannot be found.",
    INSTANCE_PROFILE: "Instance Profile {} cannot be found.",
    POLICY: "Policy {} was not found.",
    ACCESS_KEY: "The Access Key with id {} cannot be found.",
    SLR_DELETION: "Deletion task {} cannot be found.",
}
_ALREADY_EXISTS = {
    USER: "User with name {} already exists.",
    GROUP: "Group with name {} already exists.",
    ROLE: "Role with name {} already exists.",
    INSTANCE_PROFILE: "Instance Profile {} already exists.",
    POLICY: "A policy called {} already exists. Duplicate names are not allowed.",
    ACCESS_KEY: "Access key {} already exists.",
    SLR_DELETION: "Deletion task {} already exists.",
}


def no_such_entity(message: str) -> AwsError:
    return AwsError("NoSuchEntity", message, 404)


def entity_not_found(kind: str, name: str) -> AwsError:
    return no_such_entity(_NOT_FOUND[kind].format(name))


def already_exists(kind: str, name: str) -> AwsError:
    return AwsError("EntityAlreadyExists", _ALREADY_EXISTS[kind].format(name), 409)


def inline_policy_not_found(kind: str, policy_name: str) -> AwsError:
    return no_such_entity(f"The {_ENTITY_WORDS[kind]} policy with name {policy_name} cannot be found.")


def policy_not_found(policy_arn: str) -> AwsError:
    return entity_not_found(POLICY, policy_arn)


def policy_not_attachable(policy_arn: str) -> AwsError:
    return no_such_entity(f"Policy {policy_arn} does not exist or is not attachable.")


def access_key_not_found(access_key_id: str) -> AwsError:
    return entity_not_found(ACCESS_KEY, access_key_id)


def delete_conflict(message: str) -> AwsError:
    return AwsError("DeleteConflict", message, 409)


def limit_exceeded(message: str) -> AwsError:
    return AwsError("LimitExceeded", message, 409)


def invalid_input(message: str) -> AwsError:
    return AwsError("InvalidInput", message, 400)


def validation_error(message: str) -> AwsError:
    return AwsError("ValidationError", message, 400)


def malformed_policy(message: str) -> AwsError:
    return AwsError("MalformedPolicyDocument", message, 400)


def unmodifiable_role(name: str) -> AwsError:
    return AwsError(
        "UnmodifiableEntity",
        f"Cannot perform the operation on the protected role '{name}' - this role is only modifiable by AWS",
        400,
    )
