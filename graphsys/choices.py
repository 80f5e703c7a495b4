"""Enum-valued settings from what a user passed (a member or its value), with the error that lists
the allowed values."""
from __future__ import annotations

import enum
from typing import TypeVar

E = TypeVar("E", bound=enum.Enum)


def enum_choice(name: str, value: object, kind: type[E]) -> E:
    """``kind(value)``: ``value`` is a member of ``kind`` or the value of one.

    Raises:
        ValueError: naming the setting ``name``, the value and every allowed value.
    """
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(repr(m.value) for m in kind)
        raise ValueError(f"{name} = {value!r} is not one of {allowed}") from None
