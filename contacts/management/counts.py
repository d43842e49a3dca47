"""Counts in the operator commands' sentences: ``1 cluster``, ``2 clusters``."""


def counted(count: int, singular: str, plural: str | None = None) -> str:
    """``count`` and the noun in the number it takes; ``plural`` defaults to ``singular + "s"``:
    ``counted(1, "link record")`` is ``1 link record``, ``counted(0, "merge")`` ``0 merges``."""
    noun = singular if count == 1 else plural or f"{singular}s"
    return f"{count} {noun}"
