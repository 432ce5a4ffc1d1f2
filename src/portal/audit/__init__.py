"""The audit trail: who did what to which target, when, from where."""
