"""Call administration over ad-hoc commands (SPEC §7, §10), for the JIDs listed in ``ADMINS``.

| node                                | stages → result                                          |
|-------------------------------------|----------------------------------------------------------|
| ``urn:xmpp-video:admin#list-calls`` | → a table of the live calls: id, caller, callee, state,  |
|                                     | since, state since, media, devices, who answered         |
| ``urn:xmpp-video:admin#end-call``   | 1. pick a live call (list-single ``call``) →             |
|                                     | 2. its details and ``confirm`` (boolean) → the call ends |
|                                     | as ``terminated_by_admin``, ``ended_by`` = the admin's   |
|                                     | bare JID; both parties get the JMI ending (retract and   |
|                                     | reject before an answer, finish after it) with the text  |
|                                     | ``terminated_by_admin``, which JSON devices see as       |
|                                     | ``call_ended {reason: terminated_by_admin}``             |
| ``urn:xmpp-video:admin#call-stats`` | ``hours`` (default 24) or ``start`` [+ ``end``] → counts |
|                                     | by outcome, answer rate, mean and p95 answer and setup   |
|                                     | times (see calls/report.py for the definitions)          |

The same figures come out of the HTTP admin API (http/admin_api.py) and ``xmpp-video calls``.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Final

from xmpp_video.calls import report
from xmpp_video.calls.manager import CallManager
from xmpp_video.core.server import Server
from xmpp_video.modules.adhoc import (
    Command,
    CommandContext,
    CommandRegistry,
    Completed,
    Field,
    FieldType,
    Form,
    FormError,
    FormType,
    Option,
    Stage,
)
from xmpp_video.modules.adhoc.forms import result_form

log = logging.getLogger(__name__)

NODE: Final = "urn:xmpp-video:admin"
LIST_CALLS: Final = f"{NODE}#list-calls"
END_CALL: Final = f"{NODE}#end-call"
CALL_STATS: Final = f"{NODE}#call-stats"
FORM_TYPE: Final = Field("FORM_TYPE", FieldType.HIDDEN, values=(NODE,))
COLUMNS: Final = (
    Field("call", label="Call"),
    Field("caller", FieldType.JID_SINGLE, "Caller"),
    Field("callee", FieldType.JID_SINGLE, "Callee"),
    Field("state", label="State"),
    Field("since", label="Since"),
    Field("state_since", label="In this state since"),
    Field("media", label="Media"),
    Field("devices", label="Devices"),
    Field("answered_by", FieldType.JID_SINGLE, "Answered by"),
)
STATS_FORM: Final = Form(
    title="Call statistics",
    instructions="Either the last hours, or a start (and an end; default: now) as"
    " 2024-05-01T12:00:00Z. A start wins over hours.",
    fields=(
        FORM_TYPE,
        Field("hours", label="Last hours", values=(str(report.DEFAULT_PERIOD_HOURS),)),
        Field("start", label="Start (UTC)"),
        Field("end", label="End (UTC)"),
    ),
)


def _label(call: report.LiveCall) -> str:
    return (
        f"{call.caller} → {call.callee}, {call.state} since {report.iso(call.state_since)}"
        f" ({', '.join(call.media)})"
    )


def _seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


class CallAdminModule:
    name = "admin_calls"

    def __init__(self, calls: CallManager) -> None:
        self.calls = calls

    def setup(self, server: Server) -> None:
        self.server = server
        commands = server.require(CommandRegistry)
        commands.register(Command(LIST_CALLS, "List active calls", self.list_calls))
        commands.register(
            Command(
                END_CALL,
                "End a call",
                self.end_call,
                (Stage(self._pick_form), Stage(self._confirm_form)),
            )
        )
        commands.register(
            Command(CALL_STATS, "Call statistics", self.call_stats, (Stage(STATS_FORM),))
        )

    def stop(self) -> None:
        return None

    def _live(self) -> list[report.LiveCall]:
        return report.live_calls(self.calls.live_calls())

    # -- list-calls ------------------------------------------------------------------------

    async def list_calls(self, context: CommandContext) -> Completed:
        calls = self._live()
        rows = tuple(
            (
                ("call", c.call_id),
                ("caller", c.caller_device),
                ("callee", c.callee),
                ("state", c.state),
                ("since", report.iso(c.since)),
                ("state_since", report.iso(c.state_since)),
                ("media", ", ".join(c.media)),
                ("devices", ", ".join(c.devices)),
                ("answered_by", c.answered_by or ""),
            )
            for c in calls
        )
        form = Form(
            FormType.RESULT,
            title="Active calls",
            fields=(FORM_TYPE, Field("count", label="Active calls", values=(str(len(calls)),))),
            reported=COLUMNS,
            items=rows,
        )
        return Completed.info(f"{len(calls)} active call(s).", form)

    # -- end-call --------------------------------------------------------------------------

    async def _pick_form(self, context: CommandContext) -> Form | Completed:
        calls = self._live()
        if not calls:
            return Completed.info("There is no active call.")
        return Form(
            title="End a call",
            instructions="Choose the call to end.",
            fields=(
                FORM_TYPE,
                Field(
                    "call",
                    FieldType.LIST_SINGLE,
                    "Call",
                    required=True,
                    options=tuple(Option(c.call_id, _label(c)) for c in calls),
                ),
            ),
        )

    def _chosen(self, context: CommandContext) -> report.LiveCall | None:
        call_id = context.answers.text("call")
        return next((c for c in self._live() if c.call_id == call_id), None)

    async def _confirm_form(self, context: CommandContext) -> Form | Completed:
        call = self._chosen(context)
        if call is None:
            return Completed.error(f"call {context.answers.text('call')} has ended meanwhile")
        return Form(
            title="End this call?",
            instructions=(
                f"{_label(call)}.\nBoth parties will be told that an administrator ended it."
            ),
            fields=(
                FORM_TYPE,
                Field("caller", FieldType.FIXED, "Caller", values=(call.caller_device,)),
                Field("callee", FieldType.FIXED, "Callee", values=(call.callee,)),
                Field("confirm", FieldType.BOOLEAN, "End the call", required=True),
            ),
        )

    async def end_call(self, context: CommandContext) -> Completed:
        call_id = context.answers.text("call")
        if not context.answers.boolean("confirm"):
            return Completed.info(f"Call {call_id} was left alone.")
        admin = str(context.requester.bare)
        if not self.calls.terminate(call_id, by=admin):
            return Completed.error(f"call {call_id} is not active any more")
        log.info("admin %s ended call %s", admin, call_id)
        return Completed.info(f"Call {call_id} ended; both parties were told.")

    # -- call-stats ------------------------------------------------------------------------

    async def call_stats(self, context: CommandContext) -> Completed:
        answers = context.answers
        start = answers.datetime("start")
        end = answers.datetime("end")
        hours = (
            None
            if start is not None
            else answers.integer("hours", minimum=1, maximum=report.MAX_PERIOD_HOURS)
        )
        try:
            since, until = report.period(dt.datetime.now(dt.UTC), hours=hours, start=start, end=end)
        except ValueError as exc:
            raise FormError(str(exc)) from None
        summary = report.summarize(
            await self.server.storage.calls.between(since, until), since, until
        )
        rate = summary.answer_rate
        fields = [
            Field("start", label="Start", values=(report.iso(summary.start),)),
            Field("end", label="End", values=(report.iso(summary.end),)),
            Field("total", label="Calls", values=(str(summary.total),)),
            Field("answered", label="Answered", values=(str(summary.answered),)),
            Field("live", label="Still live", values=(str(summary.live),)),
            Field(
                "answer_rate",
                label="Answer rate (%)",
                values=("n/a" if rate is None else f"{rate * 100:.1f}",),
            ),
            *(
                Field(f"outcome-{reason}", label=f"Ended: {reason}", values=(str(count),))
                for reason, count in summary.outcomes
            ),
            Field(
                "answer_time_mean",
                label="Answer time, mean (s)",
                values=(_seconds(summary.answer_time.mean),),
            ),
            Field(
                "answer_time_p95",
                label="Answer time, p95 (s)",
                values=(_seconds(summary.answer_time.p95),),
            ),
            Field(
                "setup_time_mean",
                label="Setup time after answer, mean (s)",
                values=(_seconds(summary.setup_time.mean),),
            ),
            Field(
                "setup_time_p95",
                label="Setup time after answer, p95 (s)",
                values=(_seconds(summary.setup_time.p95),),
            ),
        ]
        return Completed(form=result_form("Call statistics", *fields, form_type=NODE))
