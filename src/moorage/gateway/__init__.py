"""The HTTP front door: one endpoint for every AWS service Moorage speaks, plus /_moorage/*."""
