"""`python -m connectors.emulator`: the same as `manage.py stripe_emulator`, without Django."""

import argparse

from .demo import add_arguments, serve

parser = argparse.ArgumentParser(prog="python -m connectors.emulator", description=__doc__)
add_arguments(parser)
serve(parser.parse_args())
