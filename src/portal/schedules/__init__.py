"""Scheduled runs: an item version with fixed inputs, run on a cron expression in a time zone, once per tick."""
