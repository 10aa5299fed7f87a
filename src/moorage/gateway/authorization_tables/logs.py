"""Amazon CloudWatch Logs (service prefix logs) as the Service Authorization Reference tables it:
"Actions, resources, and condition keys for Amazon CloudWatch Logs". Row grammar: __init__.py.

Group operations are authorized on `log-group:<name>:*`, the form AWS shows in DescribeLogGroups and
policies grant (it also covers the group's streams); stream operations on the stream."""

RESOURCE_TYPES = {
    "log-group": {"arn": "arn:${Partition}:logs:${Region}:${Account}:log-group:${LogGroupName}:*", "keys": {}},
    "log-stream": {
        "arn": "arn:${Partition}:logs:${Region}:${Account}:log-group:${LogGroupName}:log-stream:${LogStreamName}",
        "keys": {},
    },
}

SERVICE_KEYS: dict = {}

_REQUEST_TAGS = {"aws:RequestTag/": "tags", "aws:TagKeys": "tags{}"}
_GROUP = {"type": "log-group", "ids": {"LogGroupName": "logGroupName|logGroupIdentifier"}}
_STREAM = {"type": "log-stream", "ids": {"LogGroupName": "logGroupName|logGroupIdentifier", "LogStreamName": "logStreamName"}}
_BY_ARN = {"arn": "resourceArn"}

OPERATIONS = {
    "CreateLogGroup": {"resources": [_GROUP], "keys": _REQUEST_TAGS},
    "DeleteLogGroup": {"resources": [_GROUP]},
    "DescribeLogGroups": {},
    "PutRetentionPolicy": {"resources": [_GROUP]},
    "DeleteRetentionPolicy": {"resources": [_GROUP]},
    "AssociateKmsKey": {"resources": [_GROUP]},
    "DisassociateKmsKey": {"resources": [_GROUP]},
    "TagLogGroup": {"resources": [_GROUP], "keys": _REQUEST_TAGS},
    "UntagLogGroup": {"resources": [_GROUP], "keys": {"aws:TagKeys": "tags[]"}},
    "ListTagsLogGroup": {"resources": [_GROUP]},
    "TagResource": {"resources": [_BY_ARN], "keys": _REQUEST_TAGS},
    "UntagResource": {"resources": [_BY_ARN], "keys": {"aws:TagKeys": "tagKeys[]"}},
    "ListTagsForResource": {"resources": [_BY_ARN]},
    "CreateLogStream": {"resources": [_STREAM]},
    "DeleteLogStream": {"resources": [_STREAM]},
    "DescribeLogStreams": {"resources": [_GROUP]},
    "PutLogEvents": {"resources": [_STREAM]},
    "GetLogEvents": {"resources": [_STREAM]},
    "FilterLogEvents": {"resources": [_GROUP]},
    "StartQuery": {"resources": [{"type": "log-group", "ids": {
        "LogGroupName": "logGroupName|logGroupNames[]|logGroupIdentifiers[]"}}]},
    "GetQueryResults": {},
    "StopQuery": {},
    "DescribeQueries": {},
}
