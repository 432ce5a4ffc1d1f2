"""Backup and restore of a whole portal, and the catalog's export and import between portals."""
