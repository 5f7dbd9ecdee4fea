"""Weir's record-batch frame format: how records cross the host/guest boundary.

A batch is records back to back, each a 16-byte header (timestamp ``i64``, key length ``u32``,
value length ``u32``, all little endian) followed by the key and value bytes: the layout of
``record-batch`` in ``wit/types.wit`` and of the Rust ``weir-frame`` crate, byte for byte.
This module needs nothing but the standard library, so it runs (and is tested) on CPython too.
"""

from __future__ import annotations

import struct
from typing import Iterator, NamedTuple

__all__ = ["HEADER", "HEADER_LEN", "NO_TIMESTAMP", "FrameError", "Record", "records", "push"]

HEADER = struct.Struct("<qII")
HEADER_LEN = HEADER.size  # 16

NO_TIMESTAMP = -(2**63)
"""The timestamp of a record that has none (and of "no watermark yet")."""


class FrameError(ValueError):
    """A batch that does not follow the frame format."""


class Record(NamedTuple):
    """One record of a batch. An empty key is no key (Kafka's null key)."""

    timestamp: int
    key: bytes
    value: bytes


def records(batch: bytes) -> Iterator[Record]:
    """Iterates over the records of ``batch``; raises :class:`FrameError` on a truncated one."""
    unpack = HEADER.unpack_from
    end = len(batch)
    offset = 0
    while offset < end:
        if end - offset < HEADER_LEN:
            raise FrameError(f"malformed record batch: record at byte {offset} is truncated")
        timestamp, key_len, value_len = unpack(batch, offset)
        key_start = offset + HEADER_LEN
        value_start = key_start + key_len
        next_offset = value_start + value_len
        if next_offset > end:
            raise FrameError(f"malformed record batch: record at byte {offset} is truncated")
        yield Record(timestamp, batch[key_start:value_start], batch[value_start:next_offset])
        offset = next_offset


def push(batch: bytearray, timestamp: int, key: bytes, value: bytes) -> None:
    """Appends one record to ``batch``."""
    batch += HEADER.pack(timestamp, len(key), len(value))
    batch += key
    batch += value
