"""Auditing the event store: checkpoints and verification (tamper evidence), what a unit
knew at any moment (as-of replay) and a hazard's timeline."""
