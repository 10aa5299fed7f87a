"""AWS STS (service prefix sts) as the Service Authorization Reference tables it: "Actions,
resources, and condition keys for AWS Security Token Service". Row grammar: __init__.py."""

RESOURCE_TYPES = {
    "role": {"arn": "arn:${Partition}:iam::${Account}:role/${RoleNameWithPath}", "keys": {"aws:ResourceTag/": "tags"}},
}

SERVICE_KEYS: dict = {}

_ROLE = {"arn": "RoleArn"}

OPERATIONS = {
    # Every principal may ask who it is; GetSessionToken needs no permission either (IAM User Guide).
    "GetCallerIdentity": {"public": True},
    "GetSessionToken": {"public": True},
    # The trust policy and the caller's policies both decide: STS evaluates them itself
    # (services/sts/service.py, through Authorizer.decide) on the role's ARN.
    "AssumeRole": {"resources": [_ROLE], "by_service": True,
                   "keys": {"sts:RoleSessionName": "RoleSessionName", "sts:ExternalId": "ExternalId", "sts:SourceIdentity": "SourceIdentity",
                            "aws:RequestTag/": "Tags", "aws:TagKeys": "Tags{}", "sts:TransitiveTagKeys": "TransitiveTagKeys[]"}},
    "AssumeRoleWithWebIdentity": {"resources": [_ROLE], "by_service": True, "keys": {"sts:RoleSessionName": "RoleSessionName"}},
}
