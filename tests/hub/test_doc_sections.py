"""Replacing one "## " section of docs/benchmarks.md (pure)."""

from __future__ import annotations

from hub.doc_sections import replace_section

DOC = "# Benchmarks\n\n## Ingest\n\nold ingest\n\n## Console\n\nold console\n\n## Storage\n\nstorage\n"


def test_a_section_in_the_middle_is_replaced_and_its_neighbours_kept() -> None:
    result = replace_section(DOC, "## Console\n\nnew console\n", "## Console")
    assert result == (
        "# Benchmarks\n\n## Ingest\n\nold ingest\n\n## Console\n\nnew console\n\n## Storage\n\nstorage\n"
    )


def test_the_last_section_is_replaced_to_the_end() -> None:
    result = replace_section(DOC, "## Storage\n\nnew storage\n", "## Storage")
    assert result.endswith("## Console\n\nold console\n\n## Storage\n\nnew storage\n")
    assert result.count("## Storage") == 1


def test_a_missing_section_is_appended() -> None:
    result = replace_section(DOC, "## Simulators\n\nsim\n", "## Simulators")
    assert result == DOC + "\n## Simulators\n\nsim\n"


def test_an_empty_document_gets_a_title() -> None:
    assert replace_section("", "## Console\n\nx\n", "## Console") == "# Benchmarks\n\n## Console\n\nx\n"


def test_a_heading_that_only_starts_alike_is_not_replaced() -> None:
    doc = "# Benchmarks\n\n## Console latency\n\nkeep\n"
    result = replace_section(doc, "## Console\n\nx\n", "## Console")
    assert "## Console latency\n\nkeep\n" in result
    assert result.endswith("## Console\n\nx\n")


def test_a_heading_inside_a_code_fence_is_text() -> None:
    doc = ("# Benchmarks\n\n## Console\n\nold\n\n```markdown\n## Storage\n```\n\n"
           "~~~\n## Console\n~~~\n\n## Storage\n\nkeep\n")
    result = replace_section(doc, "## Console\n\nnew\n", "## Console")
    assert result == "# Benchmarks\n\n## Console\n\nnew\n\n## Storage\n\nkeep\n"


def test_a_fenced_example_stays_in_its_section() -> None:
    doc = "# Benchmarks\n\n## Ingest\n\n```\n## Console\n```\n\n## Console\n\nold\n"
    result = replace_section(doc, "## Console\n\nnew\n", "## Console")
    assert result == "# Benchmarks\n\n## Ingest\n\n```\n## Console\n```\n\n## Console\n\nnew\n"


def test_subsections_belong_to_their_section() -> None:
    doc = "# Benchmarks\n\n## Ingest\n\n### one\n\nx\n\n## Console\n\nold\n"
    result = replace_section(doc, "## Ingest\n\nintro\n", "## Ingest")
    assert result == "# Benchmarks\n\n## Ingest\n\nintro\n\n## Console\n\nold\n"
