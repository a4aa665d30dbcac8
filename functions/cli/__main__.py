"""`python -m functions.cli`: the same command as the `mailbeacon` script."""

from . import run

run()
