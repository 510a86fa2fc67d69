"""Argument checks shared by the commands: a bad value is a usage error (exit 2) naming
the option, before anything is read or written."""

from __future__ import annotations

import math

import click

from mstore.errors import UsageError


class FiniteFloat(click.FloatRange):
    """A float in a range that is a number: click's FloatRange lets ``nan`` through (it
    compares false with every bound) and ``inf`` when there is no upper bound."""

    def convert(self, value, param, ctx):  # noqa: ANN001, ANN201 - click's signature
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


def utf8_text(value: str, what: str) -> str:
    """``value`` if it is text that can be stored; an argument with bytes that are not
    UTF-8 reaches Python as lone surrogates, which no record can hold."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        try:
            shown = value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        except UnicodeEncodeError:  # not from a command line's bytes
            shown = value.encode("utf-8", "backslashreplace").decode("utf-8")
        raise UsageError(f"{what} is not UTF-8 text: '{shown}'") from None
    return value
