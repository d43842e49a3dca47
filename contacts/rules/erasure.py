"""What an erasure leaves of a stored text or JSON value (docs/privacy.md)."""

import re

ERASED = "[erased]"

# A word of the characters emails and phone numbers are written with: a value stands alone in a
# text when it is one such word, but for a sentence's full stop after it (erasing phone ``111``
# leaves ``1112`` as it is). One pass over the text and a set look-up per word, however many
# values an erasure removes.
_WORD = re.compile(r"[\w@.+-]+")


def scrub_text(text: str, *, texts: frozenset[str]) -> str:
    """``text`` with each of ``texts`` standing alone in it replaced by ``ERASED``."""

    def replace(word: re.Match[str]) -> str:
        whole = word.group()
        value = whole.rstrip(".")
        return ERASED + whole[len(value) :] if value in texts else whole

    return _WORD.sub(replace, text)


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
