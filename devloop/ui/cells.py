"""What the dashboard says, apart from the widgets that show it: the apps table's cells, the key list."""

from __future__ import annotations

from devloop.core.state import Phase
from devloop.core.status import AppStatus

# Readable at 100 columns: the last event (or the error, while there is one) gets the width left,
# cut with `…` (`v` shows it whole); a build's duration and a scale's memory are in that timeline
# ("built ... in 1.5s", "scaled to 3 instances, 256M each"), the memory limit in `devloop status`.
COLUMNS = ("App", "State", "Instances", "URL", "Last event")
LAST_MIN = 16  # the last event's cell is never narrower than this
# A symbol per state, so state never depends on colour alone (the cursor row hides colour).
PHASE_MARK = {
    Phase.WAITING: "…",
    Phase.BUILDING: "◐",
    Phase.DEPLOYING: "◑",
    Phase.RUNNING: "●",
    Phase.CRASHED: "✗",
    Phase.FAILED: "✗",
}


def process_counts(row: AppStatus) -> list[str]:
    """`worker 1/2` for each process type besides web, after the web instances' count."""
    return [f"{name} {c.running}/{c.desired}" for name, c in row.processes.items()]


def short(text: str | None, limit: int = 48) -> str:
    """The first line of `text`, cut with `…` to `limit` characters."""
    if not text:
        return ""
    first = text.strip().splitlines()[0] if text.strip() else ""
    return first if len(first) <= limit else first[: limit - 1] + "…"


def bare(address: str | None) -> str | None:
    """`127.0.0.1:41234`: the numeric address beside the URL, its scheme left out for width."""
    return address.removeprefix("http://") if address else None


# What `?` lists, one line a key (the footer shows what fits).
KEYS_HELP = [
    ("↑/↓", "select an app"),
    ("a", "all apps' logs, or only the selected app's"),
    ("/", "filter the logs by a regular expression (Esc clears)"),
    ("f", "follow new lines on/off (scrolling back pauses)"),
    ("t", "the router's access lines (RTR) on/off"),
    ("r", "build and deploy the selected app now"),
    ("m", "manual / automatic builds"),
    ("s", "scale the selected app"),
    ("R", "restart the selected app's instances"),
    ("d", "run the selected app under its debugger, or not (the Debug column says where)"),
    ("o", "open the app's URL in a browser"),
    ("e", "show the app's environment (secrets masked)"),
    ("x", "open a shell in instance 0"),
    ("c", "clear the log pane"),
    ("v", "events: what happened to the apps, newest last (a: all or the selected app)"),
    ("q", "quit"),
]
