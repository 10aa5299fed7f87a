"""Amazon EKS (service prefix eks) as the Service Authorization Reference tables it: "Actions,
resources, and condition keys for Amazon Elastic Kubernetes Service". Row grammar: __init__.py."""

RESOURCE_TYPES = {
    "cluster": {
        "arn": "arn:${Partition}:eks:${Region}:${Account}:cluster/${ClusterName}",
        "finder": "eks-cluster",
        "keys": {"aws:ResourceTag/": "tags"},
    },
    "nodegroup": {
        "arn": "arn:${Partition}:eks:${Region}:${Account}:nodegroup/${ClusterName}/${NodegroupName}/${UUID}",
        "finder": "eks-nodegroup",
        "keys": {"aws:ResourceTag/": "tags"},
    },
    "fargateprofile": {
        "arn": "arn:${Partition}:eks:${Region}:${Account}:fargateprofile/${ClusterName}/${FargateProfileName}/${UUID}",
        "finder": "eks-fargateprofile",
        "keys": {"aws:ResourceTag/": "tags"},
    },
    "access-entry": {
        "arn": "arn:${Partition}:eks:${Region}:${Account}:access-entry/${ClusterName}/${IamIdentityType}/${IamIdentityAccountID}/${IamIdentityName}/${UUID}",
        "finder": "eks-access-entry",
        "keys": {"aws:ResourceTag/": "tags"},
    },
    "podidentityassociation": {
        "arn": "arn:${Partition}:eks:${Region}:${Account}:podidentityassociation/${ClusterName}/${EksPodIdentityAssociationId}",
        "finder": "eks-podidentityassociation",
        "keys": {"aws:ResourceTag/": "tags"},
    },
    "addon": {
        "arn": "arn:${Partition}:eks:${Region}:${Account}:addon/${ClusterName}/${AddonName}/${UUID}",
        "keys": {},
    },
    "identityproviderconfig": {
        "arn": "arn:${Partition}:eks:${Region}:${Account}:identityproviderconfig/${ClusterName}/${IdentityProviderType}/${IdentityProviderConfigName}/${UUID}",
        "keys": {},
    },
    "access-policy": {"arn": "arn:${Partition}:eks::aws:cluster-access-policy/${AccessPolicyName}", "keys": {}},
}

SERVICE_KEYS: dict = {}

_CLUSTER = {"type": "cluster", "ids": {"ClusterName": "name"}}
_OF_CLUSTER = {"type": "cluster", "ids": {"ClusterName": "clusterName"}}
_NODEGROUP = {"type": "nodegroup", "ids": {"ClusterName": "clusterName", "NodegroupName": "nodegroupName"}}
_FARGATE = {"type": "fargateprofile", "ids": {"ClusterName": "clusterName", "FargateProfileName": "fargateProfileName"}}
_ACCESS_ENTRY = {"type": "access-entry", "ids": {"ClusterName": "clusterName", "PrincipalArn": "principalArn"}}
_POD_IDENTITY = {"type": "podidentityassociation", "ids": {"ClusterName": "clusterName", "EksPodIdentityAssociationId": "associationId"}}
_BY_ARN = {"arn": "resourceArn"}
_REQUEST_TAGS = {"aws:RequestTag/": "tags", "aws:TagKeys": "tags{}"}
_ENTRY_KEYS = {"eks:principalArn": "principalArn", "eks:kubernetesGroups": "kubernetesGroups[]", "eks:username": "username"}
_SCOPE_KEYS = {"eks:policyArn": "policyArn", "eks:accessScope": "accessScope.type", "eks:namespaces": "accessScope.namespaces[]"}

OPERATIONS = {
    # clusters
    "CreateCluster": {"resources": [_CLUSTER], "keys": {**_REQUEST_TAGS, "eks:bootstrapClusterCreatorAdminPermissions": "accessConfig.bootstrapClusterCreatorAdminPermissions", "eks:authenticationMode": "accessConfig.authenticationMode"}},
    "DescribeCluster": {"resources": [_CLUSTER]},
    "DeleteCluster": {"resources": [_CLUSTER]},
    # EKS names every cluster of the region in its denial: "... eks:ListClusters on resource: ...:cluster/*".
    "ListClusters": {"resources": [{"type": "cluster", "ids": {"ClusterName": "=*"}}]},
    "UpdateClusterConfig": {"resources": [_CLUSTER], "keys": {"eks:authenticationMode": "accessConfig.authenticationMode"}},
    "UpdateClusterVersion": {"resources": [_CLUSTER]},
    "DescribeClusterVersions": {},
    "DescribeUpdate": {"resources": [_CLUSTER]},
    "ListUpdates": {"resources": [_CLUSTER]},
    # CancelUpdate is Moorage's own (EKS has no such action): authorized as eks:UpdateClusterConfig would be.
    "CancelUpdate": {"action": "eks:UpdateClusterConfig", "resources": [_CLUSTER]},
    # tags: the resource is the ARN the request names
    "TagResource": {"resources": [_BY_ARN], "keys": _REQUEST_TAGS},
    "UntagResource": {"resources": [_BY_ARN], "keys": {"aws:TagKeys": "tagKeys[]"}},
    "ListTagsForResource": {"resources": [_BY_ARN]},
    # node groups
    "CreateNodegroup": {"resources": [_OF_CLUSTER], "keys": _REQUEST_TAGS},
    "DescribeNodegroup": {"resources": [_NODEGROUP]},
    "DeleteNodegroup": {"resources": [_NODEGROUP]},
    "UpdateNodegroupConfig": {"resources": [_NODEGROUP]},
    "UpdateNodegroupVersion": {"resources": [_NODEGROUP]},
    "ListNodegroups": {"resources": [_OF_CLUSTER]},
    # Fargate profiles
    "CreateFargateProfile": {"resources": [_OF_CLUSTER], "keys": _REQUEST_TAGS},
    "DescribeFargateProfile": {"resources": [_FARGATE]},
    "DeleteFargateProfile": {"resources": [_FARGATE]},
    "ListFargateProfiles": {"resources": [_OF_CLUSTER]},
    # access entries and access policies
    "CreateAccessEntry": {"resources": [_OF_CLUSTER], "keys": {**_REQUEST_TAGS, **_ENTRY_KEYS, "eks:accessEntryType": "type"}},
    "DescribeAccessEntry": {"resources": [_ACCESS_ENTRY], "keys": {"eks:principalArn": "principalArn"}},
    "UpdateAccessEntry": {"resources": [_ACCESS_ENTRY], "keys": _ENTRY_KEYS},
    "DeleteAccessEntry": {"resources": [_ACCESS_ENTRY], "keys": {"eks:principalArn": "principalArn"}},
    "ListAccessEntries": {"resources": [_OF_CLUSTER]},
    "AssociateAccessPolicy": {"resources": [_ACCESS_ENTRY], "keys": {"eks:principalArn": "principalArn", **_SCOPE_KEYS}},
    "DisassociateAccessPolicy": {"resources": [_ACCESS_ENTRY], "keys": {"eks:principalArn": "principalArn", "eks:policyArn": "policyArn"}},
    "ListAssociatedAccessPolicies": {"resources": [_ACCESS_ENTRY], "keys": {"eks:principalArn": "principalArn"}},
    "ListAccessPolicies": {},
    # Pod Identity associations
    "CreatePodIdentityAssociation": {"resources": [_OF_CLUSTER], "keys": _REQUEST_TAGS},
    "DescribePodIdentityAssociation": {"resources": [_POD_IDENTITY]},
    "UpdatePodIdentityAssociation": {"resources": [_POD_IDENTITY]},
    "DeletePodIdentityAssociation": {"resources": [_POD_IDENTITY]},
    "ListPodIdentityAssociations": {"resources": [_OF_CLUSTER]},
    # add-ons, identity provider configs, encryption, insights
    "CreateAddon": {"resources": [_OF_CLUSTER], "keys": _REQUEST_TAGS},
    "DescribeAddon": {"resources": [{"type": "addon", "ids": {"ClusterName": "clusterName", "AddonName": "addonName"}}]},
    "UpdateAddon": {"resources": [{"type": "addon", "ids": {"ClusterName": "clusterName", "AddonName": "addonName"}}]},
    "DeleteAddon": {"resources": [{"type": "addon", "ids": {"ClusterName": "clusterName", "AddonName": "addonName"}}]},
    "ListAddons": {"resources": [_OF_CLUSTER]},
    "DescribeAddonVersions": {},
    "DescribeAddonConfiguration": {},
    "AssociateIdentityProviderConfig": {"resources": [_OF_CLUSTER], "keys": {**_REQUEST_TAGS, "eks:clientId": "oidc.clientId", "eks:issuerUrl": "oidc.issuerUrl"}},
    "DescribeIdentityProviderConfig": {"resources": [{"type": "identityproviderconfig", "ids": {"ClusterName": "clusterName", "IdentityProviderType": "identityProviderConfig.type", "IdentityProviderConfigName": "identityProviderConfig.name"}}]},
    "DisassociateIdentityProviderConfig": {"resources": [{"type": "identityproviderconfig", "ids": {"ClusterName": "clusterName", "IdentityProviderType": "identityProviderConfig.type", "IdentityProviderConfigName": "identityProviderConfig.name"}}]},
    "ListIdentityProviderConfigs": {"resources": [_OF_CLUSTER]},
    "AssociateEncryptionConfig": {"resources": [_CLUSTER | {"ids": {"ClusterName": "clusterName"}}]},
    "ListInsights": {"resources": [_OF_CLUSTER]},
    "DescribeInsight": {"resources": [_OF_CLUSTER]},
    "StartInsightsRefresh": {"resources": [_OF_CLUSTER]},
    "DescribeInsightsRefresh": {"resources": [_OF_CLUSTER]},
}
