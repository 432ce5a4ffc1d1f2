"""Named secrets for catalog items: encrypted at rest, granted per item, given to a job's child as environment."""
