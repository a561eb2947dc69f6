"""Every setting Lumen reads from the environment is in the README's settings table, and the
table names none that the code does not read."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The ways lumen/settings.py reads a variable: os.getenv, its env* helpers, the secrets.
READS = re.compile(
    r"\b(?:getenv|envbool|envint|envfloat|development_secret|environ\.get)\(\s*\"([A-Z][A-Z0-9_]*)\""
)


def read_by_the_code():
    return set(READS.findall((ROOT / "lumen" / "settings.py").read_text()))


def in_the_table():
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("## Settings") : readme.index("## Commands")]
    names = set()
    for row in table.splitlines():
        if row.startswith("| `"):
            first_cell = row.split("|")[1]
            names |= set(re.findall(r"`([A-Z][A-Z0-9_]*)`", first_cell))
    return names


def test_every_setting_the_code_reads_is_in_the_readme():
    assert read_by_the_code() - in_the_table() == set()


def test_the_readme_lists_no_setting_the_code_does_not_read():
    assert in_the_table() - read_by_the_code() == set()


def test_the_settings_are_found_at_all():
    # A guard against a pattern that silently matches nothing.
    assert {"DATABASE_URL", "STRIPE_API_BASE", "FIELD_ENCRYPTION_KEY"} <= read_by_the_code()
