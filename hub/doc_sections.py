"""Replacing one "## " section of a Markdown document (docs/benchmarks.md)."""

from __future__ import annotations


def replace_section(document: str, section: str, heading: str) -> str:
    """*document* with the section under *heading* replaced by *section* (or appended).

    *section* starts with its own heading line; the old one ends at the next "## ".
    """
    lines = document.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.rstrip() == heading), None)
    if start is None:
        head = document if document.strip() else "# Benchmarks\n"
        return head.rstrip("\n") + "\n\n" + section
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    tail = "".join(lines[end:])
    return "".join(lines[:start]) + section + ("\n" + tail if tail else "")
