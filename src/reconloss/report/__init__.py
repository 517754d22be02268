"""reconloss.report."""
