"""reconloss.data."""
