"""Render the docs' configuration tables from the code, so they are never retyped.

Two kinds of table, each written between marker comments in a docs page::

    <!-- BEGIN GENERATED: config RateLimitConfig -->  ...  <!-- END GENERATED -->
    <!-- BEGIN GENERATED: env -->  ...  <!-- END GENERATED -->

``config NAME`` renders the fields of the config dataclass ``NAME`` (type, default and
the description from its docstring's ``Attributes:`` section). ``env`` renders the
environment variables ``EnvironmentConfig`` reads (``_env._VARIABLES``), with the
defaults ``EnvironmentConfig.from_environment(environ={})`` really produces.

Usage: ``python scripts/gen_docs_tables.py`` rewrites the pages in place;
``--check`` only reports pages that are out of date and exits 1 (the test suite runs it).
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx_resilient as hr  # noqa: E402
from httpx_resilient import _env  # noqa: E402

DOCS = ROOT / "docs"
MARKER = re.compile(
    r"(<!-- BEGIN GENERATED: (?P<what>[^>]*?) -->\n)(?P<body>.*?)(<!-- END GENERATED -->)",
    re.DOTALL,
)
CONFIGS: dict[str, type] = {
    "RateLimitConfig": hr.RateLimitConfig,
    "CircuitBreakerConfig": hr.CircuitBreakerConfig,
    "RetryConfig": hr.RetryConfig,
    "RetryBudget": hr.RetryBudget,
    "CacheConfig": hr.CacheConfig,
    "DedupConfig": hr.DedupConfig,
    "QueueConfig": hr.QueueConfig,
    "AlertThresholds": hr.AlertThresholds,
    "TimeoutConfig": hr.TimeoutConfig,
}
# "(default 1.0)", "Default None (off)." and "Required." in a field's description.
DEFAULT_NOTE = re.compile(r"\s*\(default[^()]*\)|\s*(Default|Required)\b[^.]*\.")
# _env.py's target names -> the class each variable sets.
TARGETS = {
    "rate": "RateLimitConfig",
    "cb": "CircuitBreakerConfig",
    "retry": "RetryConfig",
    "budget": "RetryBudget",
    "timeout": "TimeoutConfig",
    "queue": "QueueConfig",
}


def attribute_docs(cls: type) -> dict[str, str]:
    """``field -> description`` from the Google-style ``Attributes:`` docstring section."""
    doc = inspect.getdoc(cls) or ""
    docs: dict[str, str] = {}
    current = None
    in_section = False
    for line in doc.splitlines():
        if line.strip() == "Attributes:":
            in_section = True
            continue
        if not in_section:
            continue
        if line and not line.startswith(" "):
            break  # the next section
        match = re.match(r"^    (\w+): (.*)$", line)
        if match:
            current = match.group(1)
            docs[current] = match.group(2).strip()
        elif current and line.strip():
            docs[current] += " " + line.strip()
    return docs


def cell(text: str) -> str:
    """``text`` made safe for one table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def show_default(value: Any) -> str:
    """A Python default as it would be written in code."""
    if isinstance(value, frozenset):
        inner = ", ".join(repr(v) for v in sorted(value))
        return f"frozenset({{{inner}}})"
    if dataclasses.is_dataclass(value):
        return f"{type(value).__name__}()"
    return repr(value)


def config_table(name: str) -> str:
    """The field table of config class ``name``."""
    cls = CONFIGS[name]
    docs = attribute_docs(cls)
    hints = {f.name: f.type for f in dataclasses.fields(cls)}
    rows = ["| field | type | default | meaning |", "|---|---|---|---|"]
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            default = show_default(f.default)
        elif f.default_factory is not dataclasses.MISSING:
            default = show_default(f.default_factory())
        else:
            default = "required"
        kind = str(hints[f.name]).replace("KeyFunc", "Callable[[Request], str]")
        meaning = docs.get(f.name, "see the class docstring")
        rows.append(f"| `{f.name}` | `{cell(kind)}` | `{cell(default)}` | {cell(meaning)} |")
    return "\n".join(rows) + "\n"


def show_env(value: Any) -> str:
    """A value as it would be written in an environment variable."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, frozenset):
        return ",".join(str(v) for v in sorted(value, key=lambda v: (str(type(v)), v)))
    return str(value)


def env_default(config: _env.EnvironmentConfig, target: str, field: str) -> Any:
    """What ``field`` of ``target`` is when no variable is set."""
    objects: dict[str, Any] = {
        "rate": config.rate_limit,
        "cb": config.circuit_breaker,
        "retry": config.retry_config,
        "budget": config.retry_config.budget,
        "timeout": config.timeout_config,
        "queue": config.queue,
    }
    if target == "retry" and field == "budget":
        return config.retry_config.budget is not None
    if field == "*":
        return config.timeout_config.connect
    return getattr(objects[target], field)


def env_table(prefix: str = "API_") -> str:
    """The table of every environment variable ``EnvironmentConfig`` reads."""
    config = _env.EnvironmentConfig.from_environment(prefix=prefix, environ={})
    rows = ["| variable | default | sets | accepts |", "|---|---|---|---|"]
    for suffix, target, field, _parse, expected in _env._VARIABLES:
        cls = TARGETS[target]
        if field == "*":
            sets = "every `TimeoutConfig` phase (connect, read, write, pool) not set on its own"
        elif target == "retry" and field == "budget":
            sets = "`false`: `RetryConfig.budget=None` (no retry budget)"
        else:
            sets = f"`{cls}.{field}`"
            meaning = attribute_docs(CONFIGS[cls]).get(field)
            if meaning:  # the class's own default may differ from the variable's: drop it
                meaning = re.sub(
                    r"\s*\(default[^()]*\)|\s*(Default|Required)\b[^.]*\.", "", meaning
                )
                sets += f": {meaning.rstrip('.')}"
        if suffix in _env._SWITCHES:
            sets += " (`off` turns the layer off)"
        default = show_env(env_default(config, target, field))
        rows.append(f"| `{prefix}{suffix}` | `{default}` | {cell(sets)} | {cell(expected)} |")
    return "\n".join(rows) + "\n"


def render(what: str) -> str:
    """The generated text for a marker's ``what``."""
    kind, _, arg = what.partition(" ")
    if kind == "config":
        return config_table(arg)
    if kind == "env":
        return env_table()
    raise SystemExit(f"unknown generated block: {what!r}")


def update(text: str) -> str:
    """``text`` with every generated block rendered afresh."""
    return MARKER.sub(lambda m: m.group(1) + render(m.group("what")) + m.group(4), text)


def main(argv: list[str] | None = None) -> int:
    """Rewrite (or with ``--check``, verify) every docs page with generated blocks."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if a page is out of date")
    parser.add_argument("--docs", type=Path, default=DOCS, help="the docs folder")
    args = parser.parse_args(argv)
    stale = []
    for page in sorted(args.docs.rglob("*.md")):
        text = page.read_text(encoding="utf-8")
        new = update(text)
        if new != text:
            stale.append(page.relative_to(args.docs))
            if not args.check:
                page.write_text(new, encoding="utf-8")
    if args.check and stale:
        names = ", ".join(map(str, stale))
        print(f"out of date: {names}; run python scripts/gen_docs_tables.py", file=sys.stderr)
        return 1
    for name in stale:
        print(f"updated {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
