"""How state values are stored as bytes: the same encodings as the Rust SDK's ``Codec``
(integers and floats little endian, strings UTF-8, bytes as they are), so state written by a
Rust job reads back in a Python job and the other way round. Pure Python: runs on CPython too.
"""

from __future__ import annotations

import struct
from typing import Generic, Protocol, TypeVar

__all__ = ["Encoder", "I32", "U32", "I64", "U64", "F64", "BYTES", "STR", "Big64"]

T = TypeVar("T")


class Encoder(Protocol[T]):
    """Turns a value into bytes and back."""

    def encode(self, value: T) -> bytes: ...

    def decode(self, data: bytes) -> T: ...


class _Struct(Generic[T]):
    def __init__(self, fmt: str, name: str) -> None:
        self._struct = struct.Struct(fmt)
        self._name = name

    def encode(self, value: T) -> bytes:
        return self._struct.pack(value)

    def decode(self, data: bytes) -> T:
        if len(data) != self._struct.size:
            raise ValueError(f"expected {self._struct.size} bytes for {self._name}, found {len(data)}")
        return self._struct.unpack(data)[0]

    def __repr__(self) -> str:
        return self._name


class _Bytes:
    def encode(self, value: bytes) -> bytes:
        return bytes(value)

    def decode(self, data: bytes) -> bytes:
        return data


class _Str:
    def encode(self, value: str) -> bytes:
        return value.encode()

    def decode(self, data: bytes) -> str:
        return data.decode()


I32: Encoder[int] = _Struct("<i", "i32")
U32: Encoder[int] = _Struct("<I", "u32")
I64: Encoder[int] = _Struct("<q", "i64")
U64: Encoder[int] = _Struct("<Q", "u64")
F64: Encoder[float] = _Struct("<d", "f64")
BYTES: Encoder[bytes] = _Bytes()
STR: Encoder[str] = _Str()

Big64: Encoder[int] = _Struct(">q", "big-endian i64")
"""A signed 64-bit integer, big endian: namespaces that sort like the numbers (window starts)."""
