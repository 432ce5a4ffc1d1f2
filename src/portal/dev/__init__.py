"""Development helpers, mounted only with PORTAL_DEV=1."""
