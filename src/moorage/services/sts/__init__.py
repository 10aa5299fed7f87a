"""STS: who is calling (GetCallerIdentity); role sessions arrive with the IAM issue."""
