"""One package per AWS service: business rules that turn requests into desired state."""
