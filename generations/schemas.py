"""What each task's output must look like, whoever produced it. A model's answer that does not fit
is unusable: a permanent MODEL_ERROR, never half an artifact."""

from jobs.errors import PermanentError

SKILL_TREE_MAX_DEPTH = 12  # levels below the root


class OutputInvalid(PermanentError):
    def __init__(self, message: str):
        super().__init__("MODEL_ERROR", f"The model's output is unusable: {message}")


class AnswerCut(OutputInvalid):
    """The model stopped at its output limit: what it wrote is unfinished, however it parses."""

    def __init__(self, limit: str):
        super().__init__(
            f"the answer was cut at the model's output limit ({limit}); ask for less (fewer"
            " items, a shorter text)"
        )


# What a deck's block text, its bullets and titles hold; longer output is cut to it.
BLOCK_TEXT_MAX = 5000
BULLET_MAX = 500
TITLE_MAX = 300


def _text(value, where: str, *, limit: int = BLOCK_TEXT_MAX) -> str:
    if not isinstance(value, str) or not value.strip():
        raise OutputInvalid(f"{where} must be non-empty text")
    return _storable(value.strip()[:limit], where)


def _storable(value: str, where: str) -> str:
    """Text the database can store: no NUL character, no lone surrogate (half a UTF-16 pair)."""
    if "\x00" in value:
        raise OutputInvalid(f"{where} contains a NUL character")
    try:
        value.encode()
    except UnicodeEncodeError as exc:
        raise OutputInvalid(f"{where} is not valid Unicode") from exc
    return value


def _list(value, where: str, *, minimum: int = 1) -> list:
    if not isinstance(value, list) or len(value) < minimum:
        raise OutputInvalid(f"{where} must be a list of at least {minimum}")
    return value


def deck_validate(output) -> dict:
    if not isinstance(output, dict):
        raise OutputInvalid("expected an object")
    slides = []
    for i, slide in enumerate(_list(output.get("slides"), "slides")):
        if not isinstance(slide, dict):
            raise OutputInvalid(f"slides[{i}] must be an object")
        blocks = []
        for j, block in enumerate(_list(slide.get("blocks", []), f"slides[{i}].blocks", minimum=0)):
            kind = block.get("kind") if isinstance(block, dict) else None
            if kind == "bullets":
                items = [
                    _text(item, f"slides[{i}].blocks[{j}].items", limit=BULLET_MAX)
                    for item in _list(block.get("items"), "items")
                ]
                blocks.append({"kind": kind, "items": items})
            elif kind in ("paragraph", "quote"):
                blocks.append(
                    {
                        "kind": kind,
                        "text": _text(block.get("text"), f"slides[{i}].blocks[{j}].text"),
                    }
                )
            else:
                raise OutputInvalid(
                    f"slides[{i}].blocks[{j}].kind must be paragraph, bullets or quote"
                )
        slides.append(
            {
                "title": _text(slide.get("title"), f"slides[{i}].title", limit=TITLE_MAX),
                "blocks": blocks,
            }
        )
    return {"title": _text(output.get("title"), "title", limit=TITLE_MAX), "slides": slides}


def flashcards_validate(output) -> dict:
    cards = []
    for i, card in enumerate(
        _list(output.get("cards") if isinstance(output, dict) else None, "cards")
    ):
        if not isinstance(card, dict):
            raise OutputInvalid(f"cards[{i}] must be an object")
        cards.append(
            {
                "question": _text(card.get("question"), f"cards[{i}].question"),
                "answer": _text(card.get("answer"), f"cards[{i}].answer"),
                "source": _storable(card["source"], f"cards[{i}].source")
                if isinstance(card.get("source"), str)
                else "",
            }
        )
    return {"cards": cards}


def distractors_validate(output) -> dict:
    # An empty list is the handler's to refuse: it also drops the distractors that are the answer.
    items = _list(
        output.get("distractors") if isinstance(output, dict) else None, "distractors", minimum=0
    )
    return {
        "distractors": [_text(item, f"distractors[{i}]", limit=500) for i, item in enumerate(items)]
    }


def _node(node, where: str, depth: int) -> dict:
    if not isinstance(node, dict):
        raise OutputInvalid(f"{where} must be an object")
    if depth > SKILL_TREE_MAX_DEPTH:
        raise OutputInvalid(f"the tree is deeper than {SKILL_TREE_MAX_DEPTH} levels")
    children = _list(node.get("children", []), f"{where}.children", minimum=0)
    return {
        "name": _text(node.get("name"), f"{where}.name", limit=300),
        "children": [
            _node(child, f"{where}.children[{i}]", depth + 1) for i, child in enumerate(children)
        ],
    }


def skill_tree_validate(output) -> dict:
    tree = _node(output, "tree", 0)
    if not tree["children"]:
        raise OutputInvalid("the tree has no skills")
    return tree


def story_validate(output) -> dict:
    if not isinstance(output, dict):
        raise OutputInvalid("expected an object")
    return {
        "title": _text(output.get("title"), "title", limit=TITLE_MAX),
        "text": _text(output.get("text"), "text", limit=100_000),
    }


VALIDATORS = {
    "deck": deck_validate,
    "flashcards": flashcards_validate,
    "distractors": distractors_validate,
    "skill_tree": skill_tree_validate,
    "story": story_validate,
}

# What remote models are asked to return, task by task.
SHAPES = {
    "deck": '{"title": str, "slides": [{"title": str, "blocks": [{"kind": "paragraph"|"quote", "text": str} | {"kind": "bullets", "items": [str]}]}]}',
    "flashcards": '{"cards": [{"question": str, "answer": str, "source": str}]}',
    "distractors": '{"distractors": [str]}',
    "skill_tree": '{"name": str, "children": [{"name": str, "children": [...]}]}',
    "story": '{"title": str, "text": str}',
}
