"""Every CloudWatch Logs-visible string and number formed in one place: ARNs, record keys, limits,
the retention values AWS accepts, and the errors in AWS's words."""

from __future__ import annotations

from ...core.errors import AwsError
from ...core.kinds import LOG_GROUP, LOG_STREAM
from ...store import Key

# PutRetentionPolicy's retentionInDays: exactly the values AWS accepts.
RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)
LOG_GROUP_CLASSES = ("STANDARD", "INFREQUENT_ACCESS", "DELIVERY")

# PutLogEvents (docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutLogEvents.html).
MAX_BATCH_BYTES = 1_048_576
EVENT_OVERHEAD_BYTES = 26
MAX_BATCH_SPAN_MS = 24 * 3600 * 1000
MAX_AGE_MS = 14 * 24 * 3600 * 1000
MAX_FUTURE_MS = 2 * 3600 * 1000
DAY_MS = 24 * 3600 * 1000

MAX_TAGS = 50


def group_key(account: str, region: str, group: str) -> Key:
    return Key(account, region, LOG_GROUP, group)


def stream_key(account: str, region: str, group: str, stream: str) -> Key:
    # Neither a group name nor a stream name may contain ':', so the pair is unambiguous.
    return Key(account, region, LOG_STREAM, f"{group}:{stream}")


def group_arn(partition: str, region: str, account: str, group: str) -> str:
    """The log group's ARN as tagging and IAM use it (logGroupArn in DescribeLogGroups)."""
    return f"arn:{partition}:logs:{region}:{account}:log-group:{group}"


def stream_arn(partition: str, region: str, account: str, group: str, stream: str) -> str:
    return f"{group_arn(partition, region, account, group)}:log-stream:{stream}"


def group_from_arn(arn: str) -> tuple[str, str, str] | None:
    """(region, account, group) of a log group ARN, with or without AWS's trailing ':*'."""
    parts = arn.split(":", 6)
    if len(parts) < 7 or parts[0] != "arn" or parts[2] != "logs" or parts[5] != "log-group":
        return None
    group = parts[6]
    if group.endswith(":*"):
        group = group[:-2]
    if not group or ":" in group:
        return None
    return parts[3], parts[4], group


def group_not_found() -> AwsError:
    return AwsError("ResourceNotFoundException", "The specified log group does not exist.")


def stream_not_found() -> AwsError:
    return AwsError("ResourceNotFoundException", "The specified log stream does not exist.")


def invalid(message: str) -> AwsError:
    return AwsError("InvalidParameterException", message)


def bad_token() -> AwsError:
    return invalid("The specified nextToken is invalid.")


# Operations whose resource is a log stream (the rest act on a log group, or on '*').
STREAM_OPERATIONS = {"CreateLogStream", "DeleteLogStream", "PutLogEvents", "GetLogEvents"}


def resource_arn(partition: str, region: str, account: str, operation: str, params: dict) -> str:
    """The ARN IAM evaluates a Logs call against: the stream for stream operations, the group as
    `log-group:<name>:*` (the form AWS shows and policies such as Lambda's basic role grant) for group
    operations, the ARN given for the by-ARN tag operations, and '*' for account-wide ones
    (DescribeLogGroups, DescribeQueries, GetQueryResults, StopQuery)."""
    if params.get("resourceArn"):
        return params["resourceArn"]
    name = params.get("logGroupName")
    identifier = params.get("logGroupIdentifier") or next(iter(params.get("logGroupIdentifiers") or params.get("logGroupNames") or []), None)
    if not name and identifier:
        parsed = group_from_arn(identifier) if identifier.startswith("arn:") else (region, account, identifier)
        if parsed is None:
            return "*"
        region, account, name = parsed
    if not name:
        return "*"
    if operation in STREAM_OPERATIONS and params.get("logStreamName"):
        return stream_arn(partition, region, account, name, params["logStreamName"])
    return f"{group_arn(partition, region, account, name)}:*"
