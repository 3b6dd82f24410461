"""The fault report: every fault-injection test (`-m fault`) run, one row per fault.

Each case injects a fault against the real Docker engine or the fake API server
(engine gone, API 500s, streams cut, signals in every phase, a full disk, crash
loops, ...) and asserts the user-facing messages and, for log streams, that no
line was lost or doubled. Prints the table on stderr and the rows as JSON.
Run: python -m scripts.bench.faults [pytest args]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from scripts.bench.common import emit

ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="devloop-faults-") as tmp:
        report = Path(tmp) / "faults.json"
        run = subprocess.run(
            [sys.executable, "-m", "pytest", "-m", "fault", "-q", "-p", "no:cacheprovider", *sys.argv[1:]],
            cwd=ROOT, env={**os.environ, "DEVLOOP_FAULT_REPORT": str(report)},
            stdout=sys.stderr, check=False,
        )  # fmt: skip
        rows = json.loads(report.read_text()) if report.exists() else []
    width = max((len(str(r["fault"])) for r in rows), default=10)
    lines = [f"{'fault injected':<{width}}  survived  messages checked  lines lost", "-" * (width + 40)]
    for row in rows:
        lost = "-" if row["lines_lost"] is None else str(row["lines_lost"])
        survived = "yes" if row["survived"] else "NO"
        lines.append(f"{row['fault']:<{width}}  {survived:<8}  {row['messages_checked']:<16}  {lost}")
    survived = sum(1 for r in rows if r["survived"])
    lost_total = sum(r["lines_lost"] or 0 for r in rows)
    lines.append("-" * (width + 40))
    messages = sum(r["messages_checked"] for r in rows)
    lines.append(f"{len(rows)} faults injected, {survived} survived, {messages} messages checked, "
                 f"{lost_total} lines lost")  # fmt: skip
    print("\n".join(lines), file=sys.stderr)
    emit(
        {
            "benchmark": "faults",
            "faults_injected": len(rows),
            "survived": survived,
            "messages_checked": messages,
            "lines_lost": lost_total,
            "met": bool(rows) and survived == len(rows) and lost_total == 0 and run.returncode == 0,
            "rows": rows,
        }
    )


if __name__ == "__main__":
    main()
