"""reconloss.models."""
