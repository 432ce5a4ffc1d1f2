"""The admin control plane: job control, stats, system status. Owns no tables; composes the other services."""
