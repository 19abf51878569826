"""Twilio's webhooks: inbound texts and delivery reports.

Public routes (no session), so every request must prove it comes from Twilio: `X-Twilio-Signature`
is checked against our public URL (not the URL we were reached at, which behind a proxy is the
internal one), with the query string. A missing or forged signature is a 403 that writes nothing.
Twilio retries, so both routes are idempotent by MessageSid.

An inbound text is only kept here, raw, and answered: the SMS placer (inbox/sms/inbound.py)
fetches its media and threads it in the background, woken as soon as the text is committed.
"""

from __future__ import annotations

import logging
from typing import Any

from litestar import Controller, Request, Response, post
from litestar.di import NamedDependency
from litestar.exceptions import PermissionDeniedException
from sqlalchemy.ext.asyncio import AsyncSession

from channels.sms.twilio_webhooks import is_valid_signature, parse_inbound, parse_status
from inbox.core.transactions import run_in_transaction
from inbox.errors import ValidationFailed
from inbox.sms.inbound import do_accept_inbound_sms
from inbox.sms.messages import do_record_sms_status
from server.services import Services

log = logging.getLogger(__name__)
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


async def verified_form(request: Request[Any, Any, Any], services: Services) -> dict[str, str]:
    """The request's form, once its signature proves Twilio sent it; else a 403."""
    signature = request.headers.get("x-twilio-signature", "")
    twilio = services.settings.twilio
    token = twilio.auth_token if twilio else ""
    if not signature or not token:
        raise PermissionDeniedException("Missing X-Twilio-Signature.")
    form = await request.form()
    items = [(k, v) for k, v in form.multi_items() if isinstance(v, str)]
    query = request.url.query
    url = f"{services.settings.web.public_url}{request.url.path}{f'?{query}' if query else ''}"
    if not is_valid_signature(token, url, items, signature):
        raise PermissionDeniedException("Invalid X-Twilio-Signature.")
    return dict(items)


class TwilioWebhookController(Controller):
    path = "/webhooks/twilio"
    tags = ["webhooks"]

    @post("/sms", status_code=200)
    async def inbound(
        self, request: Request[Any, Any, Any], services: NamedDependency[Services]
    ) -> Response[str]:
        """An inbound text or MMS, kept to be placed in the background (a retry is kept once).
        The answer is empty TwiML: replies go through the send queue."""
        form = await verified_form(request, services)
        sms = parse_inbound(form)
        if not sms.sid or not sms.from_number:
            raise ValidationFailed("An inbound text needs MessageSid and From.")

        async def accept(session: AsyncSession) -> bool:
            now = services.sms_placer.clock.now()  # the clock that decides when it is due
            return await do_accept_inbound_sms(session, sms.sid, sms.from_number, form, now)

        if await run_in_transaction(services.sessionmaker, accept):
            services.sms_placer.wake()
        return Response(EMPTY_TWIML, media_type="application/xml")

    @post("/status", status_code=204)
    async def status(
        self, request: Request[Any, Any, Any], services: NamedDependency[Services]
    ) -> None:
        """A delivery report (queued, sent, delivered, undelivered, failed with error code)."""
        form = await verified_form(request, services)
        report = parse_status(form, key=request.query_params.get("key", ""))
        if report is None:
            return
        async with services.transaction() as session:
            if not await do_record_sms_status(session, report):
                log.debug("status report for %s changed nothing", report.sid)
