"""The measured test audit (`nox -s audit`): a hand-written audit of one suite, made by numbers.

For every module N of the manifest: suite N's tests per bug category (the pytest markers of
pyproject.toml), the coverage of module N's own files by suite N, and its vacuous tests, all at
checkpoint N; then misplaced tests, each module's planted bugs caught (`nox -s mutants`), and
the seed audit's questions (a TOML file beside the suite it audited, seed.py) answered by the
tests of its suite. Written to reports/audit.md and reports/audit.json, summarised on stdout.

The audit fails when a module's measurement failed (its row says FAILED and why), when any
test is vacuous, or when a test of suite N fails at checkpoint N (the numbers would describe a
red suite). Misplaced tests are reported, not failed on: the release gate owns that decision.

    model.py    the records and their judging (statuses, problems); pure
    seed.py     reads the seed audit's TOML
    measure.py  the session body, run_audit, and each module's measurement
    render.py   Markdown, JSON and the terminal summary; pure but for write_audit
    plugin.py   the pytest plugin the measurement loads into a checkpoint's environment
"""
