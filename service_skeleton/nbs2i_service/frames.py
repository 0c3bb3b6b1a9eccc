"""The pipe between an engine's Python and the model's (engine.py, pipe.py): each message is 4
bytes of length, big endian, then that many bytes. The standard library only: both ends import it."""
from __future__ import annotations

import struct
from typing import IO

_LENGTH = struct.Struct(">I")


def write(sink: IO[bytes], data: bytes) -> None:
    sink.write(_LENGTH.pack(len(data)) + data)
    sink.flush()


def read(source: IO[bytes]) -> bytes | None:
    """The next message, or None when the other end has closed."""
    head = source.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        return None
    (length,) = _LENGTH.unpack(head)
    data = source.read(length)
    return data if len(data) == length else None
