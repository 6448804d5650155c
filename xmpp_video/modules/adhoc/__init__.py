"""XEP-0050 Ad-Hoc Commands: the framework (module.py), its typed command API (command.py),
XEP-0004 data forms (forms.py) and command sessions (sessions.py)."""

from xmpp_video.modules.adhoc.command import (
    Command,
    CommandContext,
    CommandRegistry,
    Completed,
    Note,
    NoteType,
    Stage,
)
from xmpp_video.modules.adhoc.forms import (
    Field,
    FieldType,
    Form,
    FormError,
    FormType,
    Option,
    Submission,
)
from xmpp_video.modules.adhoc.module import COMMANDS, AdhocModule

__all__ = [
    "COMMANDS",
    "AdhocModule",
    "Command",
    "CommandContext",
    "CommandRegistry",
    "Completed",
    "Field",
    "FieldType",
    "Form",
    "FormError",
    "FormType",
    "Note",
    "NoteType",
    "Option",
    "Stage",
    "Submission",
]
