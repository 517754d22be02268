"""reconloss.studies."""
