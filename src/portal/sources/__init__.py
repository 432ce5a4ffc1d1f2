"""Catalog sources: the one document that says where catalog items come from (Git repositories, local folders),
validated in layers, kept as revisions with optimistic concurrency, and redacted wherever it is shown."""
