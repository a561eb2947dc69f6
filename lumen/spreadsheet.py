"""Cells that a spreadsheet will not run: every CSV Lumen writes (the audit log's, the
reports') passes its text through here.

A cell starting with = + - @, a tab or a carriage return is a formula to Excel, LibreOffice
and Google Sheets ("CSV injection"); prefixed with a single quote it is shown as text.
"""

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def text_cell(value):
    return "'" + value if value.startswith(FORMULA_START) else value
