"""Flink's key groups, as the Rust crate ``weir-keygroup`` computes them (Java's ``hashCode``,
Flink's murmur finaliser, modulo the number of key groups), for the broadcast streams of
:mod:`weir_sdk.stream`. Pure Python: runs (and is tested) on CPython too."""

from __future__ import annotations

__all__ = ["java_hash", "murmur_hash", "key_group"]


def _to_i32(x: int) -> int:
    x &= 0xFFFFFFFF
    return x - (1 << 32) if x >= 1 << 31 else x


def java_hash(key: bytes) -> int:
    """Java's ``String.hashCode`` of ``key`` read as UTF-8, or ``Arrays.hashCode(byte[])``."""
    h = 0
    try:
        text = key.decode()
    except UnicodeDecodeError:
        h = 1
        for b in key:
            h = _to_i32(31 * h + (b - 256 if b > 127 else b))
        return h
    # UTF-16 code units by hand: the component's interpreter carries no utf-16 codec.
    for char in text:
        cp = ord(char)
        if cp < 0x10000:
            h = _to_i32(31 * h + cp)
        else:
            cp -= 0x10000
            h = _to_i32(31 * h + (0xD800 + (cp >> 10)))
            h = _to_i32(31 * h + (0xDC00 + (cp & 0x3FF)))
    return h


def _rotl(x: int, r: int) -> int:
    x &= 0xFFFFFFFF
    return ((x << r) | (x >> (32 - r))) & 0xFFFFFFFF


def murmur_hash(code: int) -> int:
    """Flink's ``MathUtils.murmurHash(int)``."""
    c = (code * 0xCC9E2D51) & 0xFFFFFFFF
    c = _rotl(c, 15)
    c = (c * 0x1B873593) & 0xFFFFFFFF
    c = _rotl(c, 13)
    c = (c * 5 + 0xE6546B64) & 0xFFFFFFFF
    c ^= 4
    c ^= c >> 16
    c = (c * 0x85EBCA6B) & 0xFFFFFFFF
    c ^= c >> 13
    c = (c * 0xC2B2AE35) & 0xFFFFFFFF
    c ^= c >> 16
    c = _to_i32(c)
    if c >= 0:
        return c
    return -c if c != -(2**31) else 0


def key_group(key: bytes, max_parallelism: int) -> int:
    """The key group of ``key`` (Flink's ``KeyGroupRangeAssignment``)."""
    return (murmur_hash(java_hash(key)) & 0xFFFFFFFF) % max_parallelism
