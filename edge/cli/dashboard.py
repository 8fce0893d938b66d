"""`pcinspect dashboard --config FILE`: the operator page."""

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    subparsers.add_parser("dashboard", help="operator page")
