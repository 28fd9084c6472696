"""``hotfixctl``: plan, diff and record hotfixes from the command line; run the operator."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from hotfix_operator import __version__
from hotfix_operator.errors import HotfixError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hotfixctl",
        description=(
            "Deploy a hotfix image on the non-production config as it was when the "
            "production version was released."
        ),
    )
    parser.add_argument("--version", action="version", version=f"hotfixctl {__version__}")
    parser.add_subparsers(dest="command", metavar="COMMAND")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(args.handler(args))
    except HotfixError as exc:
        print(f"hotfixctl: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
