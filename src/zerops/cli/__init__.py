"""The ``zerops`` command line: ``zerops <command> --help`` documents every command.

Every user-caused problem ends in one line on stderr and a non-zero exit code (2); an interrupted run exits 130.

Modules: :mod:`~zerops.cli.parser` (argparse; the pipeline switches come from :mod:`zerops.options`),
:mod:`~zerops.cli.commands` (one ``cmd_<name>`` per command), :mod:`~zerops.cli.entry` (``main``, the entry point).
"""
from __future__ import annotations

from zerops.cli.entry import main
from zerops.cli.parser import build_parser

__all__ = ["main", "build_parser"]
