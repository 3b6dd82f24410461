"""Prune every store devloop reaches down to its budget, and say what it freed per store.

Which tags run is pooled across stores first: an image a kind node's container runs keeps its
copy in the registry and on the engine too. So are the times: each tag is as new as the latest
time any store knows for it (a node's crictl knows none).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from devloop.core.pull import human_bytes
from devloop.errors import describe_failure
from devloop.images.budget import Plan, StoredImage, plan
from devloop.images.stores import Inventory, Removal, Store


@dataclass(frozen=True)
class StoreReport:
    store: str
    plan: Plan | None  # None: the store could not be read (`error` says why)
    removal: Removal | None = None  # None: a dry run, or nothing to remove
    error: str | None = None
    used_bytes: int = 0

    def freed(self, dry_run: bool) -> int:
        """Bytes freed (or, in a dry run, that removing would free: about)."""
        if self.plan is None:
            return 0
        if dry_run:
            return self.plan.freed
        return self.removal.freed if self.removal else 0

    def line(self, dry_run: bool) -> str:
        if self.plan is None:
            return f"{self.store}: skipped ({self.error})"
        kept = len({i.key for i in self.plan.keep})
        running = len({i.key for i in self.plan.running})
        tail = f"; {running} older kept because an instance runs it" if running else ""
        if dry_run:
            count = len({i.key for i in self.plan.remove})
            return (f"{self.store}: would remove {count} image(s), about {human_bytes(self.plan.freed)} "
                    f"(keeps {kept} tag(s){tail})")  # fmt: skip
        removal = self.removal or Removal(0)
        text = (f"{self.store}: removed {len(removal.removed)} tag(s), freed {human_bytes(removal.freed)} "
                f"(keeps {kept} tag(s){tail})")  # fmt: skip
        for ref, why in removal.failed:
            text += f"\n  kept {ref}: {why}"
        for note in removal.notes:
            text += f"\n  {note}"
        return text


async def _read(store: Store) -> Inventory | str:
    try:
        return await store.inventory()
    except Exception as exc:  # a store that is not there (no registry, a node gone) is skipped, said
        return describe_failure(exc)


def pooled_use(inventories: Iterable[Inventory]) -> set[str]:
    """The `devloop/app:tag` keys some store says an instance runs (by name or by image id)."""
    keys: set[str] = set()
    for inventory in inventories:
        keys.update(inventory.in_use)
        keys.update(i.key for i in inventory.images if i.id and i.id in inventory.in_use_ids)
    return keys


def with_times(images: Sequence[StoredImage], known: dict[str, float]) -> tuple[StoredImage, ...]:
    """Each tag at the latest time any store knows for it: one order in every store (a node knows
    no times, a registry only the image's `created`; the engine knows when the tag was made)."""
    return tuple(replace(i, created=max(i.created, known.get(i.key, 0.0))) for i in images)


async def prune(
    stores: Sequence[Store], keep: int, apps: Iterable[str] | None, dry_run: bool = False
) -> list[StoreReport]:
    read = await asyncio.gather(*(_read(store) for store in stores))
    inventories = [r for r in read if isinstance(r, Inventory)]
    in_use = pooled_use(inventories)
    known: dict[str, float] = {}
    for inventory in inventories:
        for image in inventory.images:
            if image.created:
                known[image.key] = max(known.get(image.key, 0.0), image.created)
    wanted = None if apps is None else list(apps)
    reports: list[StoreReport] = []
    for store, found in zip(stores, read, strict=True):
        if not isinstance(found, Inventory):
            reports.append(StoreReport(store.name, None, error=found))
            continue
        inventory = found
        chosen = plan(with_times(inventory.images, known), keep, in_use, inventory.in_use_ids, wanted)
        staying = {i.id for i in (*chosen.keep, *chosen.running) if i.id}
        doomed = [i for i in chosen.remove if i.id not in staying]  # one id under a kept name stays
        removal = None
        if doomed and not dry_run:
            try:
                removal = await store.remove(doomed)
            except Exception as exc:  # never fails the caller: say it, go on with the next store
                removal = Removal(0, (), tuple((i.ref, describe_failure(exc)) for i in doomed))
        reports.append(StoreReport(store.name, chosen, removal, used_bytes=inventory.used_bytes))
    return reports


def usage_lines(reports: Sequence[StoreReport]) -> list[str]:
    """For `devloop doctor`: what devloop's images take in each store, and what a prune would free."""
    lines = []
    for report in reports:
        if report.plan is None:
            lines.append(f"{report.store}: not readable ({report.error})")
            continue
        tags = len({i.key for i in (*report.plan.keep, *report.plan.remove, *report.plan.running)})
        freed = human_bytes(report.plan.freed)
        extra = f"; `devloop prune` frees about {freed}" if report.plan.remove else ""
        lines.append(f"{report.store}: {human_bytes(report.used_bytes)} in {tags} image(s){extra}")
    return lines
