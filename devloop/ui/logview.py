"""A log pane that renders only the visible lines, fed in batches.

Adding lines only appends to a bounded deque and grows the virtual size;
`render_line` turns the few visible lines into strips (cached), so a flood of
lines costs no widget work per line.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterable

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.geometry import Size
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from devloop.core.logbuffer import LogLine, colour_for

LinePredicate = Callable[[LogLine], bool]


class LogView(ScrollView, can_focus=True):
    follow: reactive[bool] = reactive(True)

    def __init__(self, max_lines: int = 20_000, show_app: bool = True, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.max_lines = max_lines
        self.show_app = show_app
        self._lines: deque[LogLine] = deque(maxlen=max_lines)
        self._dropped = 0  # lines evicted from the front, so cache keys stay absolute
        self._cache: dict[int, Strip] = {}
        self.predicate: LinePredicate = lambda _line: True
        self.pattern: re.Pattern[str] | None = None
        self.unseen = 0  # lines that arrived while not following

    @property
    def line_count(self) -> int:
        return len(self._lines)

    def lines(self) -> list[LogLine]:
        return list(self._lines)

    def add_lines(self, lines: Iterable[LogLine]) -> int:
        kept = [line for line in lines if self.predicate(line)]
        if not kept:
            return 0
        overflow = len(self._lines) + len(kept) - self.max_lines
        if overflow > 0:
            self._dropped += overflow
            self._cache.clear()
        self._lines.extend(kept)
        self.virtual_size = Size(self.size.width, len(self._lines))
        if self.follow:
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        else:
            self.unseen += len(kept)
        self.refresh()
        return len(kept)

    def reset(self, source: Iterable[LogLine]) -> None:
        """Show `source` again through the current predicate (after a filter change)."""
        self._lines.clear()
        self._cache.clear()
        self._dropped = 0
        self.unseen = 0
        self.virtual_size = Size(self.size.width, 0)
        self.add_lines(source)
        self.refresh()

    def clear(self) -> None:
        self.reset(())

    def set_pattern(self, pattern: re.Pattern[str] | None) -> None:
        self.pattern = pattern
        self._cache.clear()
        self.refresh()

    def watch_follow(self, follow: bool) -> None:
        if follow:
            self.unseen = 0
            self.scroll_end(animate=False, immediate=True, x_axis=False)

    def on_mouse_scroll_up(self) -> None:
        self.follow = False  # scrolling back freezes the view

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        width = self.size.width
        if index >= len(self._lines):
            return Strip.blank(width)
        key = self._dropped + index
        strip = self._cache.get(key)
        if strip is None:
            strip = self._cache[key] = self._line_strip(self._lines[index])
            if len(self._cache) > 2000:
                self._cache.clear()
        return strip.crop_extend(scroll_x, scroll_x + width, None)

    def _line_strip(self, line: LogLine) -> Strip:
        tag_style = (
            Style(bold=True, color=colour_for(line.colour_key))
            if line.source == "APP"
            else (Style(bold=True))
        )
        segments = [Segment(f"[{line.tag}] ", tag_style)]
        if self.show_app:
            segments.append(Segment(f"{line.app} | ", Style(dim=True)))
        text = Text.from_ansi(line.text)
        if self.pattern is not None:
            text.highlight_regex(self.pattern, Style(reverse=True))
        segments.extend(text.render(self.app.console))
        return Strip([s for s in segments if s.text != "\n"])
