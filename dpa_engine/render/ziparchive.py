"""A minimal ZIP writer that reuses compressed bytes of unchanged parts.

A .docx is a ZIP; most of its parts (styles, numbering, theme, fonts) never change between
agreements. zipfile would deflate them again for every document; here they are deflated once
when the template is prepared and copied as they are.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

_UTF8_NAMES = 0x0800
_DEFLATED = 8
# 1 January 2026, 00:00 in MS-DOS date/time format: fixed, so output is reproducible.
_DOS_TIME, _DOS_DATE = 0, ((2026 - 1980) << 9) | (1 << 5) | 1


@dataclass(frozen=True)
class ZipEntry:
    name: bytes
    crc: int
    size: int
    data: bytes  # raw deflate stream


def deflate(name: str, raw: bytes, level: int = 6) -> ZipEntry:
    compressor = zlib.compressobj(level, zlib.DEFLATED, -15)
    data = compressor.compress(raw) + compressor.flush()
    return ZipEntry(name.encode("utf-8"), zlib.crc32(raw), len(raw), data)


def build_zip(entries: list[ZipEntry]) -> bytes:
    body = bytearray()
    directory = bytearray()
    for entry in entries:
        offset = len(body)
        body += struct.pack(
            "<IHHHHHIIIHH", 0x04034B50, 20, _UTF8_NAMES, _DEFLATED, _DOS_TIME, _DOS_DATE,
            entry.crc, len(entry.data), entry.size, len(entry.name), 0,
        )
        body += entry.name
        body += entry.data
        directory += struct.pack(
            "<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, _UTF8_NAMES, _DEFLATED, _DOS_TIME,
            _DOS_DATE, entry.crc, len(entry.data), entry.size, len(entry.name), 0, 0, 0, 0, 0,
            offset,
        )
        directory += entry.name
    start = len(body)
    body += directory
    body += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries),
                        len(directory), start, 0)
    return bytes(body)
