"""What an erasure leaves of a stored text or JSON value (docs/privacy.md)."""

import re
from functools import cache

ERASED = "[erased]"


@cache
def _standalone(value: str) -> re.Pattern[str]:
    """``value`` where it stands alone in a text: not a part of a longer email or number
    (erasing phone ``111`` leaves ``1112`` as it is; a sentence's full stop may follow)."""
    return re.compile(rf"(?<![\w@.+-]){re.escape(value)}(?![\w@+-]|\.\w)")


def scrub_text(text: str, *, texts: frozenset[str]) -> str:
    """``text`` with each of ``texts`` standing alone in it replaced by ``ERASED``."""
    for value in texts:
        if value in text:
            text = _standalone(value).sub(ERASED, text)
    return text


def scrub(value: object, *, texts: frozenset[str]) -> object:
    """``value`` (JSON) with every string that is one of ``texts`` replaced by ``None``, and
    every longer text by ``scrub_text``'s."""
    if isinstance(value, str):
        return None if value in texts else scrub_text(value, texts=texts)
    if isinstance(value, list):
        return [scrub(item, texts=texts) for item in value]
    if isinstance(value, dict):
        return {key: scrub(item, texts=texts) for key, item in value.items()}
    return value
