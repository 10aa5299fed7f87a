"""Store kinds: the `kind` part of every record key, one name per kind of AWS resource Moorage keeps.

A table, so a newcomer sees every kind in one place and no two services spell one differently.
IAM kinds share the `iam-` prefix: the authorizer's policy cache is invalidated by any change to them.
"""

from __future__ import annotations

# EKS
CLUSTER = "cluster"
UPDATE = "update"
NODEGROUP = "nodegroup"
FARGATE_PROFILE = "fargateprofile"
ACCESS_ENTRY = "accessentry"
POD_IDENTITY_ASSOCIATION = "podidentityassociation"
ADDON = "addon"
INSIGHT = "insight"
IDENTITY_PROVIDER_CONFIG = "identityproviderconfig"

# EC2
INSTANCE = "instance"
VPC = "vpc"
SUBNET = "subnet"
SECURITY_GROUP = "security-group"
INTERNET_GATEWAY = "internet-gateway"
ROUTE_TABLE = "route-table"
KEY_PAIR = "key-pair"
LAUNCH_TEMPLATE = "launch-template"
VOLUME = "volume"
SNAPSHOT = "snapshot"
VOLUME_MODIFICATION = "volume-modification"

# IAM (global: stored under the region "global")
IAM_KIND_PREFIX = "iam-"
USER = "iam-user"
GROUP = "iam-group"
ROLE = "iam-role"
POLICY = "iam-policy"
ACCESS_KEY = "iam-access-key"
INSTANCE_PROFILE = "iam-instance-profile"
SLR_DELETION = "iam-slr-deletion"
OIDC_PROVIDER = "iam-oidc-provider"

# STS
SESSION = "sts-session"

# CloudWatch Logs (events live in the log-event store, store/log_events.py, not in records)
LOG_GROUP = "log-group"
LOG_STREAM = "log-stream"
LOG_QUERY = "log-query"
