"""reconloss.metrics."""
