"""AWS IAM (service prefix iam) as the Service Authorization Reference tables it: "Actions,
resources, and condition keys for AWS Identity and Access Management (IAM)". Row grammar: __init__.py.

The SAR writes an entity's ARN with its path folded in (user/${UserNameWithPath}); here the path is
its own identifier, taken from the request (CreateUser's Path) or the stored entity, "/" otherwise.
"""

_TAGS = {"aws:ResourceTag/": "tags", "iam:ResourceTag/": "tags"}

RESOURCE_TYPES = {
    "user": {"arn": "arn:${Partition}:iam::${Account}:user${Path}${UserName}", "finder": "iam-user", "defaults": {"Path": "/"}, "keys": _TAGS},
    "role": {"arn": "arn:${Partition}:iam::${Account}:role${Path}${RoleName}", "finder": "iam-role", "defaults": {"Path": "/"}, "keys": _TAGS},
    "group": {"arn": "arn:${Partition}:iam::${Account}:group${Path}${GroupName}", "finder": "iam-group", "defaults": {"Path": "/"}, "keys": {}},
    "instance-profile": {
        "arn": "arn:${Partition}:iam::${Account}:instance-profile${Path}${InstanceProfileName}",
        "finder": "iam-instance-profile", "defaults": {"Path": "/"}, "keys": {"aws:ResourceTag/": "tags"},
    },
    "policy": {"arn": "${PolicyArn}", "finder": "iam-policy", "keys": {"aws:ResourceTag/": "tags"}},
    "oidc-provider": {
        "arn": "arn:${Partition}:iam::${Account}:oidc-provider/${OidcProviderName}",
        "finder": "iam-oidc-provider", "keys": {"aws:ResourceTag/": "tags"},
    },
}

SERVICE_KEYS: dict = {}

_USER = {"type": "user", "ids": {"UserName": "UserName"}}
# Access-key and self-service operations act on the calling user when UserName is left out.
_USER_OR_CALLER = _USER | {"or_caller": True}
_ROLE = {"type": "role", "ids": {"RoleName": "RoleName"}}
_GROUP = {"type": "group", "ids": {"GroupName": "GroupName"}}
_POLICY = {"type": "policy", "ids": {"PolicyArn": "PolicyArn"}}
_PROFILE = {"type": "instance-profile", "ids": {"InstanceProfileName": "InstanceProfileName"}}
_PROVIDER = {"arn": "OpenIDConnectProviderArn"}
_REQUEST_TAGS = {"aws:RequestTag/": "Tags", "aws:TagKeys": "Tags{}"}
_UNTAG = {"aws:TagKeys": "TagKeys[]"}
_ATTACH = {"iam:PolicyARN": "PolicyArn", "iam:PermissionsBoundary": "@PermissionsBoundary"}
_INLINE = {"iam:PermissionsBoundary": "@PermissionsBoundary"}

OPERATIONS = {
    # users
    "CreateUser": {"resources": [_USER | {"ids": {"UserName": "UserName", "Path": "Path"}}], "keys": {**_REQUEST_TAGS, "iam:PermissionsBoundary": "PermissionsBoundary"}},
    "GetUser": {"resources": [_USER_OR_CALLER]},
    "UpdateUser": {"resources": [_USER]},
    "DeleteUser": {"resources": [_USER]},
    "ListUsers": {},
    "TagUser": {"resources": [_USER], "keys": _REQUEST_TAGS},
    "UntagUser": {"resources": [_USER], "keys": _UNTAG},
    "ListUserTags": {"resources": [_USER_OR_CALLER]},
    # access keys
    "CreateAccessKey": {"resources": [_USER_OR_CALLER]},
    "ListAccessKeys": {"resources": [_USER_OR_CALLER]},
    "UpdateAccessKey": {"resources": [_USER_OR_CALLER]},
    "DeleteAccessKey": {"resources": [_USER_OR_CALLER]},
    "GetAccessKeyLastUsed": {"resources": [{"type": "user", "ids": {"AccessKeyId": "AccessKeyId"}, "finder": "iam-access-key-owner"}]},
    # groups
    "CreateGroup": {"resources": [_GROUP | {"ids": {"GroupName": "GroupName", "Path": "Path"}}]},
    "GetGroup": {"resources": [_GROUP]},
    "DeleteGroup": {"resources": [_GROUP]},
    "ListGroups": {},
    "ListGroupsForUser": {"resources": [_USER]},
    # AddUserToGroup and RemoveUserFromGroup act on the group, not on the user.
    "AddUserToGroup": {"resources": [_GROUP]},
    "RemoveUserFromGroup": {"resources": [_GROUP]},
    # roles
    "CreateRole": {"resources": [_ROLE | {"ids": {"RoleName": "RoleName", "Path": "Path"}}], "keys": {**_REQUEST_TAGS, "iam:PermissionsBoundary": "PermissionsBoundary"}},
    "GetRole": {"resources": [_ROLE]},
    "UpdateRole": {"resources": [_ROLE]},
    "UpdateRoleDescription": {"resources": [_ROLE]},
    "UpdateAssumeRolePolicy": {"resources": [_ROLE]},
    "DeleteRole": {"resources": [_ROLE], "keys": _INLINE},
    "ListRoles": {},
    "TagRole": {"resources": [_ROLE], "keys": _REQUEST_TAGS},
    "UntagRole": {"resources": [_ROLE], "keys": _UNTAG},
    "ListRoleTags": {"resources": [_ROLE]},
    "CreateServiceLinkedRole": {"resources": [{"type": "role", "ids": {"RoleName": "=*", "Path": "=/aws-service-role/*/"}}], "keys": {"iam:AWSServiceName": "AWSServiceName"}},
    "DeleteServiceLinkedRole": {"resources": [_ROLE]},
    "GetServiceLinkedRoleDeletionStatus": {"resources": [{"type": "role", "ids": {"RoleName": "=*", "Path": "=/aws-service-role/*/"}}]},
    # managed policies and their attachments
    "CreatePolicy": {"resources": [{"type": "policy", "ids": {"PolicyArn": "=arn:${Partition}:iam::${Account}:policy${Path}${PolicyName}", "Path": "Path|=/", "PolicyName": "PolicyName"}}], "keys": _REQUEST_TAGS},
    "GetPolicy": {"resources": [_POLICY]},
    "DeletePolicy": {"resources": [_POLICY]},
    "ListPolicies": {},
    "CreatePolicyVersion": {"resources": [_POLICY]},
    "GetPolicyVersion": {"resources": [_POLICY]},
    "DeletePolicyVersion": {"resources": [_POLICY]},
    "ListPolicyVersions": {"resources": [_POLICY]},
    "SetDefaultPolicyVersion": {"resources": [_POLICY]},
    "ListEntitiesForPolicy": {"resources": [_POLICY]},
    "TagPolicy": {"resources": [_POLICY], "keys": _REQUEST_TAGS},
    "UntagPolicy": {"resources": [_POLICY], "keys": _UNTAG},
    "ListPolicyTags": {"resources": [_POLICY]},
    "AttachUserPolicy": {"resources": [_USER], "keys": _ATTACH},
    "DetachUserPolicy": {"resources": [_USER], "keys": _ATTACH},
    "ListAttachedUserPolicies": {"resources": [_USER]},
    "AttachRolePolicy": {"resources": [_ROLE], "keys": _ATTACH},
    "DetachRolePolicy": {"resources": [_ROLE], "keys": _ATTACH},
    "ListAttachedRolePolicies": {"resources": [_ROLE]},
    "AttachGroupPolicy": {"resources": [_GROUP], "keys": {"iam:PolicyARN": "PolicyArn"}},
    "DetachGroupPolicy": {"resources": [_GROUP], "keys": {"iam:PolicyARN": "PolicyArn"}},
    "ListAttachedGroupPolicies": {"resources": [_GROUP]},
    # permissions boundaries (served once IAM adds them)
    "PutUserPermissionsBoundary": {"resources": [_USER], "keys": {"iam:PermissionsBoundary": "PermissionsBoundary"}},
    "DeleteUserPermissionsBoundary": {"resources": [_USER], "keys": _INLINE},
    "PutRolePermissionsBoundary": {"resources": [_ROLE], "keys": {"iam:PermissionsBoundary": "PermissionsBoundary"}},
    "DeleteRolePermissionsBoundary": {"resources": [_ROLE], "keys": _INLINE},
    # inline policies
    "PutUserPolicy": {"resources": [_USER], "keys": _INLINE},
    "GetUserPolicy": {"resources": [_USER]},
    "DeleteUserPolicy": {"resources": [_USER], "keys": _INLINE},
    "ListUserPolicies": {"resources": [_USER]},
    "PutRolePolicy": {"resources": [_ROLE], "keys": _INLINE},
    "GetRolePolicy": {"resources": [_ROLE]},
    "DeleteRolePolicy": {"resources": [_ROLE], "keys": _INLINE},
    "ListRolePolicies": {"resources": [_ROLE]},
    "PutGroupPolicy": {"resources": [_GROUP]},
    "GetGroupPolicy": {"resources": [_GROUP]},
    "DeleteGroupPolicy": {"resources": [_GROUP]},
    "ListGroupPolicies": {"resources": [_GROUP]},
    # instance profiles (AddRoleToInstanceProfile also needs iam:PassRole on the role: services/iam/roles.py)
    "CreateInstanceProfile": {"resources": [_PROFILE | {"ids": {"InstanceProfileName": "InstanceProfileName", "Path": "Path"}}], "keys": _REQUEST_TAGS},
    "GetInstanceProfile": {"resources": [_PROFILE]},
    "DeleteInstanceProfile": {"resources": [_PROFILE]},
    "ListInstanceProfiles": {},
    "ListInstanceProfilesForRole": {"resources": [_ROLE]},
    "AddRoleToInstanceProfile": {"resources": [_PROFILE]},
    "RemoveRoleFromInstanceProfile": {"resources": [_PROFILE]},
    "TagInstanceProfile": {"resources": [_PROFILE], "keys": _REQUEST_TAGS},
    "UntagInstanceProfile": {"resources": [_PROFILE], "keys": _UNTAG},
    "ListInstanceProfileTags": {"resources": [_PROFILE]},
    # OpenID Connect providers
    "CreateOpenIDConnectProvider": {"resources": [{"type": "oidc-provider", "ids": {"OidcProviderName": "Url~host"}}], "keys": _REQUEST_TAGS},
    "GetOpenIDConnectProvider": {"resources": [_PROVIDER]},
    "DeleteOpenIDConnectProvider": {"resources": [_PROVIDER]},
    "ListOpenIDConnectProviders": {},
    "AddClientIDToOpenIDConnectProvider": {"resources": [_PROVIDER]},
    "RemoveClientIDFromOpenIDConnectProvider": {"resources": [_PROVIDER]},
    "UpdateOpenIDConnectProviderThumbprint": {"resources": [_PROVIDER]},
    "TagOpenIDConnectProvider": {"resources": [_PROVIDER], "keys": _REQUEST_TAGS},
    "UntagOpenIDConnectProvider": {"resources": [_PROVIDER], "keys": _UNTAG},
    "ListOpenIDConnectProviderTags": {"resources": [_PROVIDER]},
}
