"""Captions drawn into images in any script an installed font covers.

Fontconfig (which WeasyPrint's Pango brings) names the fonts, best first, each adding characters
the ones before it lack (`fc-match --sort` trims the rest): DejaVu Sans for Latin, Greek, Cyrillic,
Arabic and Hebrew, Noto Sans CJK, Noto Color Emoji (bin/setup installs them). Each character is
drawn in the first font that has it, and one that no font has is left out rather than drawn as an
empty box. Libraqm, bundled with Pillow's wheels (FriBiDi comes with Pango), joins Arabic letters
and orders right-to-left text; a Pillow built without it draws them apart, left to right.
"""

import functools
import math
import re
import subprocess
import unicodedata

from fontTools.ttLib import TTFont, TTLibError
from PIL import Image, ImageDraw, ImageFont, features

WHITE = (255, 255, 255)
EMOJI_PRESENTATION = "\ufe0f"
# Chinese and Japanese are written without spaces: a line may break after any of their characters.
UNSPACED = "\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff"
TOKEN = re.compile(rf"[{UNSPACED}]\s*|[^\s{UNSPACED}]+\s*|\s+")

FontKey = tuple[str, int]
Run = tuple[FontKey | None, str]


@functools.cache
def _fonts() -> tuple[FontKey, ...]:
    """Sans-serif fonts as fontconfig ranks them: (file, index in a collection)."""
    try:
        listed = subprocess.run(
            ["fc-match", "--sort", "sans-serif", "--format", "%{file}\t%{index}\n"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return ()
    fonts = (line.rsplit("\t", 1) for line in listed.splitlines() if "\t" in line)
    return tuple((file, int(index)) for file, index in fonts if index.isdigit())


@functools.cache
def _coverage(font: FontKey) -> frozenset[int]:
    try:
        return frozenset(TTFont(font[0], fontNumber=font[1], lazy=True).getBestCmap() or ())
    except (OSError, TTLibError):
        return frozenset()


@functools.cache
def _is_color(font: FontKey) -> bool:
    try:
        tables = TTFont(font[0], fontNumber=font[1], lazy=True).keys()
    except (OSError, TTLibError):
        return False
    return any(table in tables for table in ("CBDT", "COLR", "sbix"))


@functools.cache
def _font_for(char: str, emoji: bool = False) -> FontKey | None:
    """The first font that has the character; for one asked for as an emoji (followed by U+FE0F,
    as ❤️ is), the first color font that has it."""
    covering = [font for font in _fonts() if ord(char) in _coverage(font)]
    if emoji:
        covering = [font for font in covering if _is_color(font)]
    return next(iter(covering), None)


@functools.cache
def _loaded(font: FontKey | None, size: int) -> tuple[ImageFont.FreeTypeFont, float]:
    """The font at `size`, and the scale to draw it at: a font of bitmaps only (color emoji) is
    loaded at its own size, drawn and then scaled."""
    if font is None:
        return ImageFont.load_default(size), 1.0
    try:
        return ImageFont.truetype(font[0], size, index=font[1]), 1.0
    except OSError:
        tables = TTFont(font[0], fontNumber=font[1], lazy=True)
        if "CBLC" not in tables:
            return ImageFont.load_default(size), 1.0
        native = tables["CBLC"].strikes[0].bitmapSizeTable.ppemY
        return ImageFont.truetype(font[0], native, index=font[1]), size / native


def _runs(text: str) -> list[Run]:
    """The text cut where its font changes. Marks and joiners (a vowel sign, an emoji's
    presentation selector or zero-width joiner) stay with the character they belong to, and are
    left out with it when no font has it."""
    if not _fonts():
        return [(None, text)] if text else []
    runs: list[Run] = []
    kept = False
    for char, after in zip(text, text[1:] + " ", strict=True):
        category = unicodedata.category(char)
        if category[0] == "M" or category == "Cf":
            if runs and kept:
                runs[-1] = (runs[-1][0], runs[-1][1] + char)
            continue
        font = _font_for(char, emoji=after == EMOJI_PRESENTATION) or _font_for(char)
        kept = font is not None
        if not kept:
            continue
        if runs and runs[-1][0] == font:
            runs[-1] = (font, runs[-1][1] + char)
        else:
            runs.append((font, char))
    return runs


def _width(runs: list[Run], size: int) -> float:
    total = 0.0
    for font, text in runs:
        loaded, scale = _loaded(font, size)
        total += loaded.getlength(text) * scale
    return total


def _is_rtl(text: str) -> bool:
    """Whether the text reads right to left: its first letter is Arabic, Hebrew, …"""
    for char in text:
        direction = unicodedata.bidirectional(char)
        if direction in ("R", "AL", "L"):
            return direction != "L"
    return False


def _wrapped(text: str, size: int, room: float, limit: int) -> list[str]:
    """At most `limit` lines that fit in `room` pixels, broken between words (a word longer than
    a line between its characters)."""
    lines = [""]
    for token in TOKEN.findall(" ".join(text.split())):
        fits = _width(_runs(token.rstrip()), size) <= room
        for piece in [token] if fits else list(token):
            if lines[-1] and _width(_runs(lines[-1] + piece.rstrip()), size) > room:
                if len(lines) == limit:
                    return [line.strip() for line in lines]
                lines.append("")
            lines[-1] += piece
    return [line.strip() for line in lines if line.strip()]


def _draw_run(image: Image.Image, xy: tuple[float, float], run: Run, size: int, rtl: bool):
    loaded, scale = _loaded(run[0], size)
    direction = ("rtl" if rtl else "ltr") if features.check("raqm") else None
    if scale == 1.0:
        ImageDraw.Draw(image).text(
            xy, run[1], font=loaded, fill=WHITE, embedded_color=True, direction=direction
        )
        return
    ascent, descent = loaded.getmetrics()
    drawn = Image.new("RGBA", (math.ceil(loaded.getlength(run[1])) + 1, ascent + descent))
    ImageDraw.Draw(drawn).text((0, 0), run[1], font=loaded, fill=WHITE, embedded_color=True)
    scaled = drawn.resize(
        (max(1, round(drawn.width * scale)), max(1, round(drawn.height * scale))),
        Image.Resampling.LANCZOS,
    )
    image.paste(scaled, (round(xy[0]), round(xy[1])), scaled)


def caption_draw(image: Image.Image, text: str, *, lines: int, at_top: bool = False) -> None:
    """Draws `text` in white over the image, at its foot (or top) in up to `lines` lines, each
    aligned to the side its reading starts from."""
    size = max(12, min(image.width, image.height) // 24)
    margin, leading = max(6, size // 2), round(size * 1.3)
    wrapped = _wrapped(text, size, image.width - 2 * margin, lines)
    y = margin if at_top else image.height - margin - leading * len(wrapped)
    for line in wrapped:
        runs, rtl = _runs(line), _is_rtl(line)
        x = image.width - margin - _width(runs, size) if rtl else margin
        # A right-to-left line's runs follow each other from the right.
        for run in reversed(runs) if rtl else runs:
            _draw_run(image, (x, y), run, size, rtl)
            x += _width([run], size)
        y += leading
