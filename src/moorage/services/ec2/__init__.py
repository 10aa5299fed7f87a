"""EC2: default and user-created networks (VPCs, subnets, gateways, route tables, security groups), zones, instances and instance types."""
