"""Where item versions come from: local folders (and, later, Git and uploads)."""
