"""Program arguments in Flink's ``ParameterTool`` style: ``--key value`` and ``--flag``.

As in the Rust SDK (``weir_sdk::args``), arguments a job does not read are an error:
:meth:`Args.finish` names the first unknown one, so a typo does not silently change what runs.
Every error message names the argument. Pure Python: runs on CPython too.
"""

from __future__ import annotations

from typing import Callable, Optional, Sequence, TypeVar

__all__ = ["ArgumentError", "Args"]

T = TypeVar("T")


class ArgumentError(ValueError):
    """Invalid program arguments; the message names the argument."""


def _is_option(s: str) -> bool:
    """True if ``s`` starts an option rather than being a value (negative numbers are values)."""
    if not (s.startswith("-") and len(s) > 1):
        return False
    try:
        float(s)
    except ValueError:
        return True
    return False


def _unsigned(text: str) -> int:
    # int() alone would also take " 5", "+5" and "1_000".
    if not (text.isascii() and text.isdigit()) or int(text) >= 2**64:
        raise ValueError(text)
    return int(text)


class _Entry:
    __slots__ = ("name", "value", "used")

    def __init__(self, name: str, value: Optional[str]) -> None:
        self.name = name
        self.value = value
        self.used = False


class Args:
    """Parsed program arguments. Read what the job knows, then call :meth:`finish`."""

    def __init__(self, raw: Sequence[str]) -> None:
        self._entries: list[_Entry] = []
        i = 0
        while i < len(raw):
            arg = raw[i]
            if not _is_option(arg):
                raise ArgumentError(f"unexpected argument '{arg}': arguments are --key value or --flag")
            name = arg.lstrip("-")
            if not name:
                raise ArgumentError(f"unexpected argument '{arg}'")
            if any(e.name == name for e in self._entries):
                raise ArgumentError(f"argument --{name} is given twice")
            value = None
            if i + 1 < len(raw) and not _is_option(raw[i + 1]):
                i += 1
                value = raw[i]
            self._entries.append(_Entry(name, value))
            i += 1

    def _take(self, name: str) -> Optional[_Entry]:
        for entry in self._entries:
            if entry.name == name:
                entry.used = True
                return entry
        return None

    def flag(self, name: str) -> bool:
        """True if ``--name`` is present; it may carry ``true`` or ``false``, nothing else."""
        entry = self._take(name)
        if entry is None:
            return False
        if entry.value in (None, "true"):
            return True
        if entry.value == "false":
            return False
        raise ArgumentError(f"argument --{name} is a flag; it takes no value (got '{entry.value}')")

    def value(self, name: str, default: Optional[str] = None) -> Optional[str]:
        """The value of ``--name``, or ``default``. Given without a value is an error."""
        entry = self._take(name)
        if entry is None:
            return default
        if entry.value is None:
            raise ArgumentError(f"argument --{name} needs a value")
        return entry.value

    def parsed(self, name: str, parse: Callable[[str], T], what: str = "a number") -> Optional[T]:
        """The value of ``--name`` converted by ``parse`` (for example ``int``), if given."""
        text = self.value(name)
        if text is None:
            return None
        try:
            return parse(text)
        except ValueError:
            raise ArgumentError(f"invalid value '{text}' for --{name}: expected {what}") from None

    def unsigned(self, name: str) -> Optional[int]:
        """The value of ``--name`` as a non-negative 64-bit integer, if given."""
        return self.parsed(name, _unsigned, "a non-negative integer")

    def choice(self, name: str, choices: Sequence[str], default: str) -> str:
        """The value of ``--name``, which must be one of ``choices``; ``default`` if absent."""
        text = self.value(name)
        if text is None:
            return default
        if text not in choices:
            raise ArgumentError(f"invalid value '{text}' for --{name}: expected one of {', '.join(choices)}")
        return text

    def finish(self) -> None:
        """Fails on the first argument that was never read."""
        for entry in self._entries:
            if not entry.used:
                raise ArgumentError(f"unknown argument --{entry.name}")
