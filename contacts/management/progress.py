"""The operator commands' progress: one tqdm bar per phase of their work, with its total, rate and
time left, on the command's stderr when that is a terminal; nothing in CI, pipes or log files.

tqdm (already a dependency) draws the bars; this module only opens one per phase
(``services.bulk.Phases``) and closes the one before.
"""

from types import TracebackType

from django.core.management.base import OutputWrapper
from tqdm import tqdm

from contacts.selectors.checks import Progress, no_progress


class _Raw:
    """A command's stderr as tqdm writes to it: text as given, no line ending, no error style
    (``OutputWrapper.write`` would end each redraw with a newline and colour it red)."""

    def __init__(self, stream: OutputWrapper) -> None:
        self._stream = stream

    def write(self, text: str) -> None:
        self._stream.write(text, style_func=str, ending="")

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        return self._stream.isatty()


class ProgressBars:
    """Bars for the phases of one command: call it as each phase begins; use it in a ``with``
    block so that the last bar is closed.

    Shown only when ``stream`` is a terminal and ``enabled`` (the commands' ``--no-progress``); a
    phase with nothing to count (``total`` 0) shows none.
    """

    def __init__(self, *, stream: OutputWrapper, enabled: bool = True) -> None:
        self._file = _Raw(stream)
        self.shown = enabled and stream.isatty()
        self._bar: tqdm | None = None

    def __call__(self, name: str, *, total: int, unit: str) -> Progress:
        self.close()
        if not self.shown or not total:
            return no_progress
        self._bar = tqdm(
            total=total, desc=name, unit=f" {unit}", unit_scale=True, file=self._file, leave=True
        )
        return self._bar.update

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> "ProgressBars":
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
