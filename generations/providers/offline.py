"""The default provider: deterministic, no network, and useful output built from the input text.

Works on any language: sentences and words are found with Unicode-aware patterns, never a word list.
"""

import bisect
import hashlib
import io
import itertools
import random
import re
import unicodedata

from PIL import Image, ImageDraw, ImageFilter, ImageOps

from generations.providers.base import Provider
from generations.providers.captions import caption_draw
from generations.schemas import BLOCK_TEXT_MAX, SKILL_TREE_MAX_DEPTH, TITLE_MAX


def _combining_marks() -> str:
    """Unicode's combining marks as a character class body: a word character leaves them out, and
    they are letters' parts (Devanagari's vowel signs, Arabic's vowel marks, Thai's tone marks)."""
    ranges, start, previous = [], None, None
    for code in [*range(0x300, 0x20000), *range(0xE0100, 0xE01F0)]:
        if unicodedata.category(chr(code))[0] != "M":
            continue
        if start is not None and code == previous + 1:
            previous = code
            continue
        if start is not None:
            ranges.append((start, previous))
        start = previous = code
    ranges.append((start, previous))
    return "".join(f"\\U{low:08x}-\\U{high:08x}" for low, high in ranges)


MARKS = _combining_marks()
# Devanagari ends a sentence with a danda (।), Chinese and Japanese with their own stops.
SENTENCE_END = re.compile(r"(?<=[.!?])\s+|(?<=[。！？؟।॥])|\n+")
# A word starts with a letter or digit: a mark alone (an emoji's presentation selector) is none.
WORD = re.compile(rf"\w[\w{MARKS}'’-]*")
MARK = re.compile(rf"[{MARKS}]")
FENCE = re.compile(r"^\s{0,3}(```|~~~)")
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*\S)\s*$")
BULLET = re.compile(r"^(\s*)(?:[-*•+]|\d+[.)])\s+(.*\S)\s*$")
QUOTE_LINE = re.compile(r"^\s{0,3}>[>\s]*(.*?)\s*$")
# Inline Markdown, reduced to its text: a code span is kept as written, a link or an image by its
# label, emphasis and strike-through by what they mark (underscores only around whole words).
INLINE = re.compile(
    r"`(?P<code>[^`]+)`"
    r"|!?\[(?P<label>[^\]]*)\]\([^)]*\)"
    r"|<(?P<url>[a-z][a-z0-9+.-]*:[^\s>]+)>"
    r"|(?P<stars>\*\*|\*|~~)(?=\S)(?P<starred>.+?)(?<=\S)(?P=stars)"
    r"|(?<!\w)(?P<unders>__|_)(?=\S)(?P<underlined>.+?)(?<=\S)(?P=unders)(?!\w)"
)
UNSPACED_SCRIPT = re.compile(r"[\u0e00-\u0e7f\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")
DEFINITION = re.compile(
    r"^(?P<term>[^,;:]{2,60}?)\s+(?:is|are|means|refers to|er|är|ist|est|es)\s+(?P<rest>.{3,})$",
    re.I,
)


CLOZE_BLANK = "_____"
# A text with one heading or none is paced into slides of a few sentences; a deck with several
# headings gives each its slide, continued on another when it holds more sentences and list items.
SENTENCES_PER_SLIDE = 3
LINES_PER_SECTION_SLIDE = 6
PROSE, ITEM, QUOTE, BREAK = "prose", "item", "quote", "break"

STORY_TURN = (
    "That changed on the morning when {others} arrived with a question nobody could answer."
)
STORY_WHEN = [
    "At first light",
    "Later that week",
    "When the wind turned",
    "Long after midnight",
    "On the third day",
    "Before anyone noticed",
    "In the quiet that followed",
    "By the time the tide came in",
]
STORY_WHAT = [
    "{hero} went back over every clue",
    "{hero} asked {others} for help",
    "a letter arrived with no name on it",
    "the old paths of {place} led somewhere new",
    "{hero} found a door that had not been there before",
    "the {genre} rumours grew louder",
    "{hero} wrote down everything that had happened",
    "a stranger told {hero} a story about {place}",
    "{hero} made a choice that could not be undone",
    "the lights of {place} went out one by one",
]
STORY_THEN = [
    "and nothing looked quite the same",
    "and the answer felt closer than ever",
    "and the question only grew",
    "and {hero} did not sleep that night",
    "and the people of {place} began to talk",
    "and a small hope took root",
]
STORY_PARTS = (STORY_WHEN, STORY_WHAT, STORY_THEN)
STORY_ENDING = [
    "By the end, {hero} understood what {others} had known from the start.",
    "And {place} was never quite the same again.",
]


def _readable(value):
    """An input as the provider reads it: composed (NFC: an accent typed apart joins its letter)
    and without its fenced code blocks, which are neither prose nor outline, unless they are all
    there is."""
    if isinstance(value, list):
        return [_readable(item) for item in value]
    if not isinstance(value, str):
        return value
    value = unicodedata.normalize("NFC", value)
    prose, unfenced, fenced = [], [], False
    for line in value.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        unfenced.append(line)
        if not fenced:
            prose.append(line)
    if "\n" not in value:
        return value
    for kept in (prose, unfenced):
        if WORD.search("\n".join(kept)):
            return "\n".join(kept)
    return value


def plain(text: str) -> str:
    """The text without Markdown heading and list markers."""
    lines = []
    for raw in text.splitlines():
        heading, bullet = HEADING.match(raw), BULLET.match(raw)
        lines.append(heading.group(2) if heading else bullet.group(2) if bullet else raw)
    return "\n".join(lines)


def inline_plain(text: str) -> str:
    """The text without inline Markdown: `**bold**` is "bold", `[docs](https://…)` is "docs"."""

    def reduced(match: re.Match) -> str:
        if match["code"] is not None:
            return match["code"]
        if match["url"] is not None:
            return match["url"]
        return inline_plain(match["label"] or match["starred"] or match["underlined"] or "")

    return INLINE.sub(reduced, text)


def sentences(text: str) -> list[str]:
    return [s.strip() for s in SENTENCE_END.split(plain(text)) if s and WORD.search(s)]


def words(text: str) -> list[str]:
    return WORD.findall(text)


def _digest(*parts: str) -> int:
    return int(hashlib.sha256("\x1f".join(parts).encode()).hexdigest(), 16)


def _title(text: str, limit: int = 8) -> str:
    """The text's first words, with an ellipsis when it goes on."""
    found = words(text)
    if not found:
        return text.strip()[:60] or "Untitled"
    title = " ".join(found[:limit]) + ("…" if len(found) > limit else "")
    return title[:1].upper() + title[1:]


def _capitalized(sentence: str) -> str:
    return sentence[:1].upper() + sentence[1:]


def _summary(labels: list[str], limit: int = 3) -> str:
    """A name for a list: its first few labels, not only the first."""
    shown = " · ".join(_title(label, 4) for label in labels[:limit])
    return shown + (" …" if len(labels) > limit else "")


def _is_distractor(term: str, answer: str) -> bool:
    """A term that can stand as a wrong answer: a word (not the cloze blank, not a number) that
    neither holds the answer nor is held by it ("Ribosome" for "Ribosomes")."""
    term_key, answer_key = term.casefold(), answer.strip().casefold()
    return (
        len(term) >= 4
        and any(char.isalpha() for char in term)
        and CLOZE_BLANK not in term
        and term_key not in answer_key
        and answer_key not in term_key
    )


def _key_term(sentence: str) -> str | None:
    """The sentence's most informative word: the longest, the earliest on ties. Scripts written
    without spaces (Chinese, Japanese, Thai) give one long run: a few characters from its middle."""
    candidates = [w for w in words(sentence) if len(w) >= 4 and not w.isdigit()]
    if not candidates:
        return None
    term = max(candidates, key=len)
    if UNSPACED_SCRIPT.search(term) and len(term) > 6:
        start, end = len(term) // 2 - 2, len(term) // 2 + 2
        # Whole letters: a Thai tone or vowel mark stays with the letter it sits on.
        while start > 0 and MARK.match(term[start]):
            start -= 1
        while end < len(term) and MARK.match(term[end]):
            end += 1
        return term[start:end]
    return term if len(words(sentence)) >= 3 else None


class OfflineProvider(Provider):
    name = "offline"

    def _generate(self, task: str, inputs: dict) -> dict:
        return getattr(self, f"_{task}")(**{name: _readable(v) for name, v in inputs.items()})

    def _deck(self, text: str, title: str = "", max_slides: int = 10) -> dict:
        # A text of nothing but quote markers ("> > >") is its own one line.
        found = self._sections(text) or [("", [(PROSE, " ".join(text.split()))])]
        sections = [(heading, _units(lines)) for heading, lines in found]
        paced = len(sections) == 1
        capacity = _capacity(
            [units for _, units in sections],
            least=SENTENCES_PER_SLIDE if paced else LINES_PER_SECTION_SLIDE,
            max_slides=max_slides,
        )
        slides = [
            slide
            for heading, units in sections
            for slide in _section_slides(heading, units, capacity, numbered=not paced)
        ][:max_slides]
        return {"title": title or slides[0]["title"], "slides": slides}

    def _sections(self, text: str) -> list[tuple[str, list[tuple[str, str]]]]:
        """The text's headings, each with its lines in order as (PROSE, ITEM or QUOTE, text), and
        BREAK where a blank line ends a paragraph. Lines before the first heading form a section
        without one ("")."""
        sections: list[tuple[str, list[tuple[str, str]]]] = []
        for raw in text.splitlines():
            heading, bullet, quote = HEADING.match(raw), BULLET.match(raw), QUOTE_LINE.match(raw)
            if heading:
                sections.append((inline_plain(heading.group(2)), []))
                continue
            if not raw.strip():
                if sections:
                    sections[-1][1].append((BREAK, ""))
                continue
            if quote and not quote.group(1):
                continue
            if not sections:
                sections.append(("", []))
            if quote:
                kind, line = QUOTE, quote.group(1)
            elif bullet:
                kind, line = ITEM, bullet.group(2)
            else:
                kind, line = PROSE, raw.strip()
            sections[-1][1].append((kind, inline_plain(line)))
        return sections

    def _flashcards(self, text: str, count: int = 10) -> dict:
        cards = []
        # A sentence said twice is one card, not two.
        for sentence in dict.fromkeys(sentences(text)):
            definition = DEFINITION.match(sentence.rstrip(".!?。"))
            if definition:
                term = definition.group("term").strip()
                cards.append(
                    {
                        "question": f"{term}?",
                        "answer": definition.group("rest").strip(),
                        "source": sentence,
                    }
                )
            term = _key_term(sentence)
            if term and len(cards) < count:
                # Every time it appears, in any case: the answer is never left in the question.
                cloze = re.sub(re.escape(term), CLOZE_BLANK, sentence, flags=re.IGNORECASE)
                if cloze != sentence:
                    cards.append({"question": cloze, "answer": term, "source": sentence})
            if len(cards) >= count:
                break
        if not cards:
            cards = [
                {
                    "question": f"What about: {_title(text, 6)}?",
                    "answer": text.strip()[:500],
                    "source": text.strip()[:500],
                }
            ]
        return {"cards": cards[:count]}

    def _distractors(self, question: str, answer: str, context: str = "", count: int = 3) -> dict:
        """Wrong answers from the other terms of the text: first what its other sentences would be
        asked about (their key terms), then its other words, those shaped like the answer first.
        Fewer than `count` when the text holds no more: never the answer in another form."""
        key_terms = [term for term in map(_key_term, sentences(context)) if term]
        # Similar length first, then a deterministic variety.
        others = sorted(
            words(f"{context} {question}"),
            key=lambda word: (abs(len(word) - len(answer)), _digest(answer, word)),
        )
        candidates = [term for term in key_terms + others if _is_distractor(term, answer)]
        # What the question shows makes a poor wrong answer: a cloze question's own words come
        # last (a text of one sentence has no others), and the term a definition asks about never.
        shown = {word.casefold() for word in words(question)}
        chosen: dict[str, str] = {}
        for term in candidates:
            if term.casefold() not in shown:
                chosen.setdefault(term.casefold(), term)
        if CLOZE_BLANK in question:
            for term in candidates:
                chosen.setdefault(term.casefold(), term)
        return {"distractors": list(chosen.values())[:count]}

    def _skill_tree(self, text: str, name: str = "") -> dict:
        root = {"name": name or "", "children": []}
        stack = [(-1, root)]
        for raw in text.splitlines():
            heading, bullet = HEADING.match(raw), BULLET.match(raw)
            if heading:
                level, label = len(heading.group(1)) - 1, heading.group(2)
            elif bullet:
                level, label = 6 + len(bullet.group(1).expandtabs(4)) // 2, bullet.group(2)
            elif raw.strip():
                level, label = 20, _title(raw, 6)
            else:
                continue
            # Bullets nested deeper than a tree may be become siblings at its deepest level.
            while stack[-1][0] >= level or len(stack) > SKILL_TREE_MAX_DEPTH:
                stack.pop()
            node = {"name": label[:300], "children": []}
            stack[-1][1]["children"].append(node)
            stack.append((level, node))
        top = root["children"]
        if len(top) == 1 and top[0]["children"] and not root["name"]:
            return top[0]
        if len(top) > 1 or (top and top[0]["children"]):
            # Several top-level skills: the tree is named after them, not after the first alone.
            root["name"] = root["name"] or _summary([child["name"] for child in root["children"]])
            return root
        # No outline, or one line of prose: the text's words are its skills.
        root["children"] = [
            {"name": term, "children": []} for term in dict.fromkeys(words(text)) if len(term) >= 4
        ][:12]
        root["name"] = root["name"] or _title(
            next(line for line in plain(text).splitlines() if line.strip()), 8
        )
        return root

    def _story(
        self,
        prompt: str,
        characters: list | None = None,
        setting: str = "",
        genre: str = "",
        length: int = 300,
    ) -> dict:
        characters = characters or [w for w in words(prompt) if w[:1].isupper()][:2] or ["someone"]
        seed = _digest(prompt, setting, genre, *characters)
        hero = characters[0]
        others = ", ".join(characters[1:]) or "no one at all"
        place = setting or "a place no map had named"
        names = {"hero": hero, "others": others, "place": place, "genre": genre or "strange"}
        opening = [
            _capitalized(
                f"{hero} had always believed that {prompt.strip().rstrip('.')} was only a story"
                f" told in {place}."
            ),
            STORY_TURN.format(**names),
        ]
        ending = [line.format(**names) for line in STORY_ENDING]
        # The middle: each part list in the seed's order, cycled so that neighbours differ.
        rng = random.Random(seed)
        when, what, then = (rng.sample(part, len(part)) for part in STORY_PARTS)
        body = list(opening)
        budget = length - len(words(" ".join(opening + ending)))
        for i in itertools.count():
            if budget <= 0:
                break
            sentence = (
                f"{when[i % len(when)]}, {what[i % len(what)].format(**names)},"
                f" {then[(i + i // len(what)) % len(then)].format(**names)}."
            )
            body.append(sentence)
            budget -= len(words(sentence))
        paragraphs = _chunks(body + ending, 4)
        text = "\n\n".join(" ".join(chunk) for chunk in paragraphs)
        return {"title": _title(prompt), "text": text}

    def image(self, prompt: str, width: int, height: int) -> bytes:
        seed = _digest(prompt)
        colors = [
            ((seed >> (8 * i)) & 0xFF, (seed >> (8 * i + 3)) & 0xFF, (seed >> (8 * i + 5)) & 0xFF)
            for i in range(6)
        ]
        image = Image.new("RGB", (width, height), colors[0])
        draw = ImageDraw.Draw(image)
        for y in range(height):
            t = y / max(height - 1, 1)
            draw.line(
                [(0, y), (width, y)],
                fill=tuple(int(a + (b - a) * t) for a, b in zip(colors[0], colors[1], strict=True)),
            )
        for i in range(2, 6):
            x, y = (seed >> (i * 7)) % width, (seed >> (i * 11)) % height
            r = max(4, (seed >> (i * 13)) % max(min(width, height) // 3, 5))
            draw.ellipse([x - r, y - r, x + r, y + r], outline=colors[i], width=max(2, r // 8))
        caption_draw(image, prompt, lines=3)
        return _png(image)

    def image_edit(self, source: bytes, prompt: str) -> bytes:
        image = Image.open(io.BytesIO(source))
        if image.mode.startswith("I"):
            # 16 bits a sample (medical, scientific PNGs): scaled to 8, not clipped to white.
            image = image.convert("I").point(lambda value: value / 256).convert("L")
        image = image.convert("RGB")
        lowered = prompt.lower()
        if any(word in lowered for word in ("gray", "grey", "black and white", "mono")):
            image = ImageOps.grayscale(image).convert("RGB")
        elif "blur" in lowered:
            image = image.filter(ImageFilter.GaussianBlur(4))
        elif "invert" in lowered:
            image = ImageOps.invert(image)
        else:
            tint = Image.new("RGB", image.size, self._tint(prompt))
            image = Image.blend(image, tint, 0.25)
        caption_draw(image, prompt, lines=1, at_top=True)
        return _png(image)

    def _tint(self, prompt: str) -> tuple[int, int, int]:
        seed = _digest(prompt)
        return (seed & 0xFF, (seed >> 8) & 0xFF, (seed >> 16) & 0xFF)


def _units(lines: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """A section's lines as what its slides are filled with, in order: each sentence of its prose,
    each list item, each quotation whole (its lines joined), and the breaks between paragraphs. A
    line without a word ("…") makes no sentence, but it still names its slide."""
    units: list[tuple[str, str]] = []
    for kind, line in lines:
        if (
            kind == QUOTE
            and units
            and units[-1][0] == QUOTE
            and len(units[-1][1]) + 1 + len(line) <= BLOCK_TEXT_MAX
        ):
            units[-1] = (QUOTE, f"{units[-1][1]} {line}")
        elif kind == PROSE:
            units += [(PROSE, sentence) for sentence in sentences(line)] or [(BREAK, line)]
        else:
            units.append((kind, line))
    return units


def _weight(unit: tuple[str, str]) -> int:
    kind, text = unit
    if kind == BREAK:
        return 0
    return max(len(sentences(text)), 1) if kind == QUOTE else 1


def _pages(units: list[tuple[str, str]], capacity: int) -> list[list[tuple[str, str]]]:
    """The units over pages of about `capacity` sentences and list items: a sentence or a quotation
    starts a new page once one is full, a list item never does (a list stays with the sentence that
    introduces it)."""
    pages: list[list[tuple[str, str]]] = [[]]
    weight = 0
    for unit in units:
        if unit[0] in (PROSE, QUOTE) and weight >= capacity:
            pages.append([])
            weight = 0
        pages[-1].append(unit)
        weight += _weight(unit)
    return pages


def _capacity(sections: list[list[tuple[str, str]]], *, least: int, max_slides: int) -> int:
    """How much a slide holds: `least`, or more when a long section's continued slides would not
    fit in `max_slides`; then slides are fuller rather than a later heading cut for them."""
    capacities = range(least, max(least, sum(map(_weight, itertools.chain(*sections)))) + 1)
    fitting = bisect.bisect_left(
        capacities,
        True,
        key=lambda capacity: sum(len(_pages(units, capacity)) for units in sections) <= max_slides,
    )
    return capacities[min(fitting, len(capacities) - 1)]


def _section_slides(
    heading: str, units: list[tuple[str, str]], capacity: int, *, numbered: bool
) -> list[dict]:
    """A section's slides. The first carries the heading; the others "Heading (2)", "(3)"… when
    `numbered`, else their first words (a list its first items)."""
    slides: list[dict] = []
    for page in _pages(units, capacity):
        said = [text for kind, text in page if kind in (PROSE, QUOTE)]
        items = [text for kind, text in page if kind == ITEM]
        if slides and numbered:
            number = f" ({len(slides) + 1})"
            title = slides[0]["title"][: TITLE_MAX - len(number)] + number
        elif heading and not slides:
            title = heading
        elif said:
            title = _title(said[0], 6)
        elif items:
            title = _summary(items)
        else:
            title = _title(next((text for _, text in page if text), ""), 6)
        slides.append(_slide(title, page))
    return slides


def _slide(title: str, page: list[tuple[str, str]]) -> dict:
    """The page's units as blocks, in their order: a paragraph's sentences joined (a paragraph
    longer than a block holds goes on in the next, so that no sentence is cut), a list's items
    together."""
    blocks: list[dict] = []
    paragraph_ended = True
    for kind, text in page:
        last = blocks[-1] if blocks else {}
        if kind == BREAK:
            paragraph_ended = True
            continue
        if (
            kind == PROSE
            and last.get("kind") == "paragraph"
            and not paragraph_ended
            and len(last["text"]) + 1 + len(text) <= BLOCK_TEXT_MAX
        ):
            last["text"] += f" {text}"
        elif kind == ITEM and last.get("kind") == "bullets":
            last["items"].append(text)
        elif kind == ITEM:
            blocks.append({"kind": "bullets", "items": [text]})
        else:
            blocks.append({"kind": "paragraph" if kind == PROSE else "quote", "text": text})
        paragraph_ended = kind != PROSE
    return {"title": title, "blocks": blocks or [{"kind": "quote", "text": title}]}


def _chunks(items: list, size: int) -> list[list]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
