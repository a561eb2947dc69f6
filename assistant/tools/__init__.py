"""The tools an assistant calls, one module per subject. Importing this package registers
them (assistant.calls.tool); assistant.server adds them to the SDK's server in this order."""

from assistant.tools import billing, connections, customers, payments, reports  # noqa: F401
