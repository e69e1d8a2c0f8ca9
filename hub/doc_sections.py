"""Replacing one section of a Markdown document (docs/benchmarks.md), which several
`cityhub bench …` commands share: each rewrites its own section and keeps the others.

Headings inside code fences are text. Every heading gets one blank line before and
after it; the text between sections is otherwise kept as it was.
"""

from __future__ import annotations

DEFAULT_TITLE = "# Benchmarks\n"

Part = tuple[str, str]  # a heading's title (without its marker) and the text below it


def split(text: str, marker: str) -> tuple[str, list[Part]]:
    """The text before the first heading that starts with *marker* (e.g. "## "), then
    (title, body) of each such heading."""
    head: list[str] = []
    parts: list[tuple[str, list[str]]] = []
    fence = ""
    for line in text.splitlines(keepends=True):
        stripped = line.lstrip(" ")
        if fence and stripped.startswith(fence):
            fence = ""
        elif not fence and stripped.startswith(("```", "~~~")):
            fence = stripped[:3]
        elif not fence and line.startswith(marker):
            parts.append((line[len(marker):].strip(), []))
            continue
        if parts:
            parts[-1][1].append(line)
        else:
            head.append(line)
    return "".join(head), [(title, "".join(body)) for title, body in parts]


def join(head: str, marker: str, parts: list[Part]) -> str:
    """The inverse of split, with one blank line around every heading."""
    sections = "".join(f"{marker}{title}\n\n{body.strip(chr(10))}\n\n" for title, body in parts)
    return "\n\n".join(piece for piece in (head.strip("\n"), sections.rstrip("\n")) if piece)


def replace_part(parts: list[Part], title: str, body: str) -> list[Part]:
    """*parts* with the body under *title* replaced, or (title, body) appended."""
    if any(t == title for t, _b in parts):
        return [(t, body if t == title else b) for t, b in parts]
    return [*parts, (title, body)]


def _heading(line: str) -> tuple[str, str]:
    marker, _, title = line.strip().partition(" ")
    return marker + " ", title.strip()


def replace_section(document: str, section: str, heading: str) -> str:
    """*document* with the section under *heading* (e.g. "## Console") replaced by
    *section*, which starts with that heading line; appended when there is none."""
    marker, title = _heading(heading)
    body = section.split("\n", 1)[1] if "\n" in section else ""
    head, parts = split(document if document.strip() else DEFAULT_TITLE, marker)
    return join(head, marker, replace_part(parts, title, body)) + "\n"
