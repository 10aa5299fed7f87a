"""EKS: clusters and their updates (desired state only; reconcilers make it real)."""
