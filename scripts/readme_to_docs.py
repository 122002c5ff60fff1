"""Copy README.md's sections into the docs pages (the migration of issue 13).

Each docs page is made of whole ``## `` sections of the README, copied as they are,
with three changes: a page with one section promotes its headings by one level, links
to ``#anchors`` point at the page that now holds the heading, and the retyped
configuration tables are replaced by generated blocks (``scripts/gen_docs_tables.py``
fills them from the code). Hand-written text a page adds lives in ``docs/_extra/<page>``
and is appended. Run it again after the README changed; then run gen_docs_tables.py.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"

# page -> (title or None to promote the single section, README sections by heading prefix)
PAGES: dict[str, tuple[str | None, list[str]]] = {
    "index.md": (
        "Getting started",
        ["Install", "The two commands", "Quick start", "How it is built"],
    ),
    "rate-limiting.md": (None, ["Rate limiting"]),
    "circuit-breaker.md": (None, ["Circuit breaker"]),
    "retries.md": (None, ["Retries"]),
    "cache.md": (None, ["HTTP caching"]),
    "dedup.md": (None, ["Request de-duplication"]),
    "queue.md": (None, ["Priority queue"]),
    "metrics-health.md": (None, ["Metrics and health"]),
    "existing-httpx.md": (
        "Using it with existing httpx code",
        ["The client facade", "Token authentication", "Configuration from the environment"],
    ),
    "guarantees.md": ("Guarantees", ["Decisions where the design was silent"]),
    "redis.md": (None, ["Beyond one process"]),
    "observability.md": ("Observability", ["Exporters"]),
    "testing.md": (
        "Testing your own code",
        ["Fault injection for your tests", "Command line", "Development"],
    ),
    "performance.md": ("Performance", ["Performance", "How it compares"]),
}
# A README table under a heading naming a config class becomes that class's generated table.
CONFIG_HEADING = re.compile(r"^#+ .*`(\w+Config|RetryBudget|AlertThresholds)`")
TABLE_ROW = re.compile(r"^\|")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = heading.strip("# ").lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def sections(text: str) -> tuple[str, dict[str, str]]:
    """The intro before the first ``## `` and each ``## `` section by heading text."""
    parts = re.split(r"(?m)^(?=## )", text)
    found = {}
    for part in parts[1:]:
        heading = part.splitlines()[0][3:].strip()
        found[heading] = part
    return parts[0], found


def pick(found: dict[str, str], prefix: str) -> str:
    """The one section whose heading starts with ``prefix``."""
    matches = [h for h in found if h.startswith(prefix)]
    if len(matches) != 1:
        raise SystemExit(f"README section {prefix!r}: found {matches}")
    return found[matches[0]]


def replace_config_tables(body: str) -> str:
    """Swap each retyped config table for a generated block."""
    out: list[str] = []
    pending: str | None = None
    lines = body.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        heading = CONFIG_HEADING.match(line)
        if heading:
            pending = heading.group(1)
        elif line.startswith("#"):
            pending = None
        if pending and TABLE_ROW.match(line) and "field" in line:
            while i < len(lines) and TABLE_ROW.match(lines[i]):
                i += 1
            out += [f"<!-- BEGIN GENERATED: config {pending} -->", "<!-- END GENERATED -->"]
            pending = None
            continue
        out.append(line)
        i += 1
    return "\n".join(out) + "\n"


def replace_env_table(body: str) -> str:
    """Swap the retyped environment-variable table for a generated block."""
    table = re.compile(r"(?m)^\| variable \| default \| sets \|\n(?:\|.*\n)+")
    return table.sub("<!-- BEGIN GENERATED: env -->\n<!-- END GENERATED -->\n", body)


def main() -> int:
    """Write every page of ``PAGES``."""
    intro, found = sections(README.read_text(encoding="utf-8"))
    bodies: dict[str, str] = {}
    where: dict[str, str] = {}  # anchor -> page
    for page, (title, wanted) in PAGES.items():
        chunks = [pick(found, prefix) for prefix in wanted]
        if title is None:
            chunks = [re.sub(r"(?m)^#(#+ )", r"\1", chunk) for chunk in chunks]
            text = "".join(chunks)
        else:
            text = f"# {title}\n\n" + "".join(chunks)
        if page == "index.md":
            lead = intro.split("\n", 1)[1]  # the README's intro without its title
            text = f"# {title}\n{lead}" + "".join(chunks)
        for line in text.splitlines():
            if line.startswith("#"):
                where.setdefault(slug(line), page)
        bodies[page] = replace_env_table(replace_config_tables(text))
    for page, text in bodies.items():

        def relink(match: re.Match[str], page: str = page) -> str:
            anchor = match.group(1)
            target = where.get(anchor)
            if target is None or target == page:
                return f"](#{anchor})"
            return f"]({target}#{anchor})"

        text = re.sub(r"\]\(#([\w\-]+)\)", relink, text)
        extra = DOCS / "_extra" / page
        if extra.exists():
            text = text.rstrip("\n") + "\n\n" + extra.read_text(encoding="utf-8")
        (DOCS / page).write_text(text, encoding="utf-8")
        print(f"wrote docs/{page}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
