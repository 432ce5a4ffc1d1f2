"""The catalog: items, versions, validation, bundles and importers."""
