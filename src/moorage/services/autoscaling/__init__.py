"""Auto Scaling: the groups behind EKS managed node groups, as tools read them."""
