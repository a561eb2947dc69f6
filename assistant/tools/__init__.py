"""The tools an assistant calls, one module per subject. Importing this package registers
them (assistant.calls.tool); assistant.server offers them in this order: where to start,
then what is asked most."""

# isort: skip_file
from assistant.tools import connections  # noqa: F401
from assistant.tools import customers  # noqa: F401
from assistant.tools import payments  # noqa: F401
from assistant.tools import billing  # noqa: F401
from assistant.tools import reports  # noqa: F401
