"""bot/png.py: the PNG writer of the report's chart and the Teams icons."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from bot.png import SIGNATURE, png


@pytest.mark.parametrize("mode", ["RGB", "RGBA"])
def test_every_pixel_reads_back_as_written_and_the_checksums_hold(mode: str) -> None:
    image = Image.new(mode, (5, 4), (255, 255, 255, 0)[:len(mode)])
    image.putpixel((0, 0), (1, 2, 3, 4)[:len(mode)])
    image.putpixel((4, 3), (250, 128, 0, 255)[:len(mode)])
    data = png(5, 4, image.tobytes(), len(mode), 9)
    assert data.startswith(SIGNATURE) and b"tEXt" not in data and b"tIME" not in data
    Image.open(io.BytesIO(data)).verify()  # chunk lengths and CRC-32s
    back = Image.open(io.BytesIO(data))
    assert (back.mode, back.size, back.tobytes()) == (mode, (5, 4), image.tobytes())


@pytest.mark.parametrize(("pixels", "channels"), [(b"\0" * 59, 3), (b"\0" * 60, 2), (b"\0" * 61, 4)])
def test_pixels_that_do_not_fill_the_picture_are_refused(pixels: bytes, channels: int) -> None:
    with pytest.raises(ValueError):
        png(5, 4, pixels, channels, 1)
