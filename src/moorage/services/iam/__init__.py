"""IAM: users, groups, roles, managed and inline policies, access keys, instance profiles."""
