"""Level-based reconcilers: read spec and the observed world, act through infra/, write status only."""
