"""Amazon EC2 Auto Scaling (service prefix autoscaling) as the Service Authorization Reference tables
it: "Actions, resources, and condition keys for Amazon EC2 Auto Scaling". Row grammar: __init__.py."""

RESOURCE_TYPES = {
    "autoScalingGroup": {
        "arn": "arn:${Partition}:autoscaling:${Region}:${Account}:autoScalingGroup:${GroupId}:autoScalingGroupName/${GroupFriendlyName}",
        "keys": {},
    },
}

SERVICE_KEYS: dict = {}

OPERATIONS = {
    # Describe* actions take no resource: "*".
    "DescribeAutoScalingGroups": {},
}
