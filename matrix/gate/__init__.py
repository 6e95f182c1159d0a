"""The release gate, `nox -s gate -- --base REF`: GO or NO-GO for a branch (matrix/gate/run.py).

run: the command. changes: what the branch changed. selection: which checkpoints that reaches.
outcomes: what each session of this run left behind. base and mutants: the branch's suites
judged against the base's. items: what that finds, and how a reviewer accepts it. verdict:
GateResult, its blockers, GO or NO-GO. render: the Markdown. refusal: NO-GO for a tree whose
manifest does not load.
"""
