"""Moorage: Amazon EKS on your own machine, with real upstream Kubernetes control planes."""

__version__ = "0.1.0"
