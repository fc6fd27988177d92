"""The command pipeline is one table (`infra/intake/pipeline.py`): every command that can be
parsed or that zhibao records itself has exactly one row — a command without a step would
parse and then fail at run time, a step without a command is dead."""

from __future__ import annotations

from domain.commands import ENTRY_COMMANDS, INTERNAL_COMMANDS
from infra.intake.pipeline import PIPELINE


def test_every_command_has_one_step_and_every_step_a_command():
    commands = set(ENTRY_COMMANDS) | set(INTERNAL_COMMANDS)
    assert not set(ENTRY_COMMANDS) & set(INTERNAL_COMMANDS)
    assert set(PIPELINE) == commands
