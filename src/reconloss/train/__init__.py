"""reconloss.train."""
