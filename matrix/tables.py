"""Tables as every report prints them: aligned columns for a terminal, Markdown for files and
GitHub's job summary. The first row is the header."""

from __future__ import annotations

import os

# GitHub Actions names, in this variable, the file a step appends its job summary to.
STEP_SUMMARY_ENV = "GITHUB_STEP_SUMMARY"


def terminal_table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(text.ljust(width) for text, width in zip(row, widths, strict=True))
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(line.rstrip() for line in lines)


def markdown_cell(text: str) -> str:
    """Text for a Markdown table cell: a '|' would end the cell, a line break the row."""
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_row(cells: list[str]) -> str:
    return "| " + " | ".join(markdown_cell(text) for text in cells) + " |"


def markdown_table(rows: list[list[str]]) -> str:
    lines = [markdown_row(rows[0]), "|" + "---|" * len(rows[0])]
    lines += [markdown_row(row) for row in rows[1:]]
    return "\n".join(lines)


def append_step_summary(markdown: str) -> None:
    """Add a report to the job summary when running in GitHub Actions (elsewhere: nothing)."""
    summary = os.environ.get(STEP_SUMMARY_ENV)
    if summary:
        with open(summary, "a", encoding="utf-8") as step_summary:
            step_summary.write(markdown)
