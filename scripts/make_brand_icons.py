"""Draw the integration's brand icons (a meter dial sending a radio wave).

Run from the repository root: ``uv run python scripts/make_brand_icons.py``.
Writes ``custom_components/broute_meter/brand/icon.png`` (256×256) and
``icon@2x.png`` (512×512). Shapes are drawn four times larger and scaled down, which
gives smooth edges without an anti-aliasing renderer.
"""

from __future__ import annotations

import math
from pathlib import Path

from PIL import Image, ImageDraw

BRAND_DIR = Path(__file__).resolve().parent.parent / "custom_components" / "broute_meter" / "brand"
SUPERSAMPLE = 4
# Drawing coordinates are in a 512-unit square; scaled to the real canvas.
UNITS = 512

TILE_TOP = (0x1F, 0x6F, 0xB2)
TILE_BOTTOM = (0x12, 0x3F, 0x73)
DIAL_FACE = (0xFF, 0xFF, 0xFF)
DIAL_RIM = (0xE3, 0xEC, 0xF5)
TICK = (0x12, 0x3F, 0x73)
NEEDLE = (0xF0, 0x8A, 0x24)
WAVE = (0xFF, 0xFF, 0xFF)


def _gradient_tile(size: int) -> Image.Image:
    """Rounded square with a vertical blue gradient on a transparent canvas."""
    gradient = Image.new("RGBA", (size, size))
    pixels = gradient.load()
    assert pixels is not None
    for y in range(size):
        t = y / (size - 1)
        colour = tuple(
            round(top + (bottom - top) * t)
            for top, bottom in zip(TILE_TOP, TILE_BOTTOM, strict=True)
        )
        for x in range(size):
            pixels[x, y] = (*colour, 255)
    mask = Image.new("L", (size, size), 0)
    ImageDraw.Draw(mask).rounded_rectangle(
        (0, 0, size - 1, size - 1), radius=round(size * 0.22), fill=255
    )
    tile = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    tile.paste(gradient, (0, 0), mask)
    return tile


def _draw(size: int) -> Image.Image:
    big = size * SUPERSAMPLE
    scale = big / UNITS
    image = _gradient_tile(big)
    draw = ImageDraw.Draw(image)

    def s(value: float) -> float:
        return value * scale

    # Dial: a face with a light rim, centred low-left to leave room for the waves.
    cx, cy, radius = 226.0, 292.0, 150.0
    draw.ellipse((s(cx - radius), s(cy - radius), s(cx + radius), s(cy + radius)), fill=DIAL_RIM)
    inner = radius - 16
    draw.ellipse((s(cx - inner), s(cy - inner), s(cx + inner), s(cy + inner)), fill=DIAL_FACE)

    # Eleven ticks over a 240° sweep, like an analogue meter's scale.
    start, sweep = 150.0, 240.0
    for i in range(11):
        angle = math.radians(start + sweep * i / 10)
        outer_r, inner_r = inner - 12, inner - (40 if i % 5 == 0 else 28)
        width = 12 if i % 5 == 0 else 7
        draw.line(
            (
                s(cx + outer_r * math.cos(angle)),
                s(cy + outer_r * math.sin(angle)),
                s(cx + inner_r * math.cos(angle)),
                s(cy + inner_r * math.sin(angle)),
            ),
            fill=TICK,
            width=round(s(width)),
        )

    # Needle pointing high on the scale, with a round hub.
    needle_angle = math.radians(start + sweep * 0.72)
    tip = inner - 30
    draw.line(
        (s(cx), s(cy), s(cx + tip * math.cos(needle_angle)), s(cy + tip * math.sin(needle_angle))),
        fill=NEEDLE,
        width=round(s(16)),
    )
    hub = 22
    draw.ellipse((s(cx - hub), s(cy - hub), s(cx + hub), s(cy + hub)), fill=NEEDLE)

    # Three radio-wave arcs leaving the dial towards the top right (the Wi-SUN link).
    wx, wy = 356.0, 162.0
    for i, r in enumerate((44.0, 84.0, 124.0)):
        draw.arc(
            (s(wx - r), s(wy - r), s(wx + r), s(wy + r)),
            start=-80,
            end=-10,
            fill=WAVE,
            width=round(s(20 - 2 * i)),
        )
    dot = 14
    draw.ellipse((s(wx - dot), s(wy - dot), s(wx + dot), s(wy + dot)), fill=WAVE)

    return image.resize((size, size), Image.Resampling.LANCZOS)


def main() -> None:
    BRAND_DIR.mkdir(parents=True, exist_ok=True)
    for name, size in (("icon.png", 256), ("icon@2x.png", 512)):
        _draw(size).save(BRAND_DIR / name, optimize=True)


if __name__ == "__main__":
    main()
