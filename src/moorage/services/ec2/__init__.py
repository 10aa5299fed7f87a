"""EC2: the network views EKS needs (default VPC, subnets, zones, security groups)."""
