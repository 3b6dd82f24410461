"""The workshop archive's pure parts: which base images a Dockerfile needs (its FROM lines, with
ARG defaults, multi-stage references left out), and the manifest that lists every item of the
archive with its sha256, so `devloop unpack` checks each one before it loads anything."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass

FORMAT = 1
MANIFEST_NAME = "devloop-workshop.json"
_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_VARIABLE = re.compile(rf"\$(?:\{{(?P<braced>{_NAME})(?::?[-+][^}}]*)?\}}|(?P<bare>{_NAME}))")


def _instructions(dockerfile: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, rest) per instruction: continuations joined, comments and blank lines dropped."""
    joined = re.sub(r"\\[ \t]*\r?\n", " ", dockerfile)
    found = []
    for raw in joined.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        found.append((word.upper(), rest.strip()))
    return found


def _expand(text: str, values: Mapping[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        name = match["braced"] or match["bare"]
        whole = match.group(0)
        if name in values:
            return values[name]
        default = re.match(r"\$\{[A-Za-z_][A-Za-z0-9_]*:?-(?P<d>[^}]*)\}", whole)
        return default["d"] if default else ""

    return _VARIABLE.sub(one, text)


def _arg_default(rest: str) -> tuple[str, str | None]:
    name, eq, value = rest.partition("=")
    return name.strip(), value.strip().strip("\"'") if eq else None


def base_images(dockerfile: str, build_args: Mapping[str, str] | None = None) -> list[str]:
    """The images a Dockerfile's FROM lines pull, in order, each once: global ARGs (before the first
    FROM) expand them, build args override the defaults; a FROM naming an earlier stage (`AS x`) or
    `scratch` needs nothing. `COPY --from=image` pulls too: those are included."""
    given = dict(build_args or {})
    values: dict[str, str] = {}
    stages: set[str] = set()
    images: list[str] = []
    seen_from = False

    def add(image: str) -> None:
        if image and image.lower() != "scratch" and image.lower() not in stages and image not in images:
            images.append(image)

    for word, rest in _instructions(dockerfile):
        if word == "ARG" and not seen_from:
            for part in rest.split():
                name, default = _arg_default(part)
                if name in given:
                    values[name] = given[name]
                elif default is not None:
                    values[name] = _expand(default, values)
        elif word == "FROM":
            seen_from = True
            words = [w for w in rest.split() if not w.startswith("--")]
            if not words:
                continue
            add(_expand(words[0], values))
            if len(words) >= 3 and words[1].upper() == "AS":
                stages.add(words[2].lower())
        elif word in ("COPY", "ADD") or (word == "RUN" and "--mount=" in rest):
            for source in re.findall(r"--from=(\S+)", rest):
                source = _expand(source, values)
                if not source.isdigit():
                    add(source)
    return images


@dataclass(frozen=True)
class Item:
    """One thing in the archive: an image (`refs` its names) or a wheel; `member` its tar name."""

    kind: str  # "image" | "wheel"
    name: str
    member: str
    sha256: str
    size: int
    refs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Manifest:
    project: str
    provider: str
    devloop: str
    items: tuple[Item, ...]
    node_image: str | None = None  # kind's node image: the cluster is made from it, by tag

    def to_json(self) -> str:
        data = asdict(self)
        data["format"] = FORMAT
        return json.dumps(data, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        data = json.loads(text)
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError(f"not a devloop workshop manifest of format {FORMAT}")
        items = tuple(
            Item(str(i["kind"]), str(i["name"]), str(i["member"]), str(i["sha256"]), int(i["size"]),
                 tuple(str(r) for r in i.get("refs") or ()))
            for i in data.get("items") or []
        )  # fmt: skip
        return cls(str(data.get("project", "")), str(data.get("provider", "")), str(data.get("devloop", "")),
                   items, data.get("node_image"))  # fmt: skip


def member_name(kind: str, index: int, name: str) -> str:
    """`images/03-python_3.12-slim.tar`: a tar member name that is safe and sorts in pack order;
    a wheel keeps its file name (pip reads the version and tags from it)."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:80]
    return f"wheels/{safe}" if kind == "wheel" else f"images/{index:02d}-{safe}.tar"


def unique(names: Iterable[str]) -> list[str]:
    seen: list[str] = []
    for name in names:
        if name and name not in seen:
            seen.append(name)
    return seen
