"""Typed keyed state on top of the host's byte-level state service.

State is kept by the host, scoped by operator uid, state name, key and namespace; a guest holds
none of it, so a savepoint of one component (in any language) restores into another that opens
the same state names with the same encodings. Handles are cheap: open them in ``Job.open``.
"""

from __future__ import annotations

from typing import Generic, List, Optional, Tuple, TypeVar

from wit_world.imports import state as host

from .encoding import BYTES, Encoder

__all__ = ["ValueState", "MapState"]

T = TypeVar("T")
K = TypeVar("K")
V = TypeVar("V")


class ValueState(Generic[T]):
    """One value per (key, namespace)."""

    def __init__(self, name: str, encoder: Encoder[T] = BYTES) -> None:  # type: ignore[assignment]
        """Opens the operator's value state called ``name``."""
        self._handle = host.ValueState(name)
        self._encoder = encoder

    def get(self, key: bytes, namespace: bytes = b"") -> Optional[T]:
        data = self._handle.get(key, namespace)
        return None if data is None else self._encoder.decode(data)

    def set(self, key: bytes, namespace: bytes, value: T) -> None:
        self._handle.set(key, namespace, self._encoder.encode(value))

    def clear(self, key: bytes, namespace: bytes = b"") -> None:
        self._handle.clear(key, namespace)


class MapState(Generic[K, V]):
    """A map from ``K`` to ``V`` per (key, namespace)."""

    def __init__(self, name: str, key_encoder: Encoder[K] = BYTES, value_encoder: Encoder[V] = BYTES) -> None:  # type: ignore[assignment]
        """Opens the operator's map state called ``name``."""
        self._handle = host.MapState(name)
        self._keys = key_encoder
        self._values = value_encoder

    def get(self, key: bytes, namespace: bytes, map_key: K) -> Optional[V]:
        data = self._handle.get(key, namespace, self._keys.encode(map_key))
        return None if data is None else self._values.decode(data)

    def put(self, key: bytes, namespace: bytes, map_key: K, value: V) -> None:
        self._handle.put(key, namespace, self._keys.encode(map_key), self._values.encode(value))

    def remove(self, key: bytes, namespace: bytes, map_key: K) -> None:
        self._handle.remove(key, namespace, self._keys.encode(map_key))

    def entries(self, key: bytes, namespace: bytes = b"") -> List[Tuple[K, V]]:
        """All entries, ordered by the encoded map key."""
        return [(self._keys.decode(k), self._values.decode(v)) for k, v in self._handle.entries(key, namespace)]

    def clear(self, key: bytes, namespace: bytes = b"") -> None:
        self._handle.clear(key, namespace)
