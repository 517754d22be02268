"""reconloss.losses."""
