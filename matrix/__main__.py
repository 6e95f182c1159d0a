"""Command line of the matrix tool: `python -m matrix check|build N|misplaced`.

Nox sessions are the everyday entry point; this is for checking the manifest and building a
checkpoint wheel by hand (e.g. to compare two builds byte for byte).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from matrix.build import BuildError, build_checkpoint_wheel, wheel_folder
from matrix.impl import ImplError, implementation_from_env, layout_from_env
from matrix.manifest import ManifestError, load_manifest
from matrix.misplaced import confirm, find_misplaced, latest_junit


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m matrix")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("check", help="validate matrix/modules.toml against the tree")
    build = commands.add_parser("build", help="build one checkpoint wheel")
    build.add_argument("checkpoint", type=int, help="checkpoint number, e.g. 3")
    build.add_argument("--out", type=Path, default=None, help="output folder (emptied first)")
    build.add_argument(
        "--stubbed", action="store_true", help="module N as stubs, as the vacuity check builds it"
    )
    commands.add_parser(
        "misplaced", help="test files in tests/NN_* that import a module above NN (exit 1 if any)"
    )
    args = parser.parse_args(argv)
    try:
        manifest = load_manifest()
        if args.command == "check":
            numbers = manifest.numbers
            print(f"manifest ok: checkpoints {numbers[0]:02d}..{numbers[-1]:02d}")
            return 0
        if args.command == "misplaced":
            return print_misplaced(manifest)
        manifest.module(args.checkpoint)
        impl = implementation_from_env(manifest)
        out = args.out or wheel_folder(manifest, args.checkpoint, args.stubbed, impl)
        stubbed = frozenset(manifest.module(args.checkpoint).files if args.stubbed else ())
        wheel = build_checkpoint_wheel(manifest, args.checkpoint, out.resolve(), stubbed, impl)
        print(f"{wheel}\n(built from {impl.label})", file=sys.stderr)
        print(wheel)
        return 0
    except (ManifestError, BuildError, ImplError) as error:
        print(f"python -m matrix: {error}", file=sys.stderr)
        return 2


def print_misplaced(manifest) -> int:
    findings, unparsable = find_misplaced(manifest)
    layout = layout_from_env(manifest.root)
    findings = confirm(findings, latest_junit(layout.at(layout.junit)))
    for finding in findings:
        print(finding.describe())
    for path in unparsable:
        print(f"not checked (does not parse): {path}")
    if not findings:
        print("no misplaced tests: every file in tests/NN_* imports only modules 01..NN")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
