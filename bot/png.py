"""PNG files written directly (PNG specification, W3C/ISO 15948): 8 bits a sample, every row
unfiltered (filter type 0), no metadata. Used for the report's chart and the Teams app's icons.

Pillow's encoder tries the five filters on every row and keeps the best; for pictures with large
areas of one colour, as these are, that costs more than twice as much for a file about a tenth
smaller."""

from __future__ import annotations

import struct
import zlib

#: the first eight bytes of every PNG file (section 5.2)
SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: the colour type for so many bytes a pixel: truecolour (RGB) and truecolour with alpha (RGBA)
COLOUR_TYPES = {3: 2, 4: 6}


def png(width: int, height: int, pixels: bytes, channels: int, level: int) -> bytes:
    """``pixels`` (rows from the top, ``channels`` bytes a pixel: 3 for RGB, 4 for RGBA) as a PNG,
    deflated at zlib ``level``."""
    row = width * channels
    if channels not in COLOUR_TYPES or len(pixels) != row * height:
        raise ValueError(f"{len(pixels)} bytes are not {width}×{height} pixels of {channels} bytes")
    rows = b"".join(b"\0" + pixels[i:i + row] for i in range(0, len(pixels), row))
    header = struct.pack(">IIBBBBB", width, height, 8, COLOUR_TYPES[channels], 0, 0, 0)
    return SIGNATURE + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(rows, level)) + _chunk(b"IEND", b"")


def _chunk(kind: bytes, data: bytes) -> bytes:
    """A chunk: length, type, data and the CRC-32 of type and data (section 5.3)."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
