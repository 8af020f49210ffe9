"""Errors of the notice workflow (all DpaError: one line, what/where/fix, exit code 2)."""

from __future__ import annotations

from ..errors import DpaError


class NoticeError(DpaError):
    """A register, change, objection or delivery request that cannot be carried out as asked."""
