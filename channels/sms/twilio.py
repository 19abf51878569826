"""A Twilio-compatible SMS provider: sends through the REST Messages API and fetches MMS media.

Twilio's Messages API takes no idempotency key, so whether an interrupted send went out cannot
be asked reliably (see `find_delivery`). Instead every send carries our key in its status
callback URL: if an interrupted text did go out, its delivery reports find the message by that
key and correct its status.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

import httpx
import msgspec

from channels.sms.twilio_webhooks import parse_inbound
from inbox.core.ports import (
    DeliveryLookup,
    DeliveryReceipt,
    OutboundEnvelope,
    PermanentDeliveryError,
    TransientDeliveryError,
)
from inbox.sms.consent import RecipientOptedOut
from inbox.sms.messages import InboundSms, SmsMedia

UNSUBSCRIBED = 21610
MEDIA_LIMIT = 5 * 1024 * 1024  # the most an MMS may carry in all
# Media answers worth asking again later (besides every 5xx).
TRANSIENT_STATUSES = frozenset({408, 425, 429})


@dataclass(frozen=True, slots=True)
class TwilioConfig:
    account_sid: str
    auth_token: str
    # A number in E.164 or a Messaging Service SID (MG...).
    sender: str
    base_url: str = "https://api.twilio.com"
    # Our public /webhooks/twilio/status; empty sends no status callback.
    status_callback_url: str = ""
    timeout: float = 10.0
    media_limit: int = MEDIA_LIMIT


class _TwilioError(msgspec.Struct):
    code: int | None = None
    message: str = ""


_decode_error = msgspec.json.Decoder(_TwilioError)


def _error_of(response: httpx.Response) -> _TwilioError:
    try:
        return _decode_error.decode(response.content)
    except msgspec.DecodeError:
        return _TwilioError(message=response.text[:200])


class TwilioSmsChannel:
    """Sends texts with `POST {base}/2010-04-01/Accounts/{sid}/Messages.json`, HTTP basic auth."""

    def __init__(
        self, config: TwilioConfig, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.config = config
        self.transport = transport

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=self.config.timeout, transport=self.transport)

    def form_of(self, envelope: OutboundEnvelope) -> dict[str, str]:
        """The form fields of one send."""
        if len(envelope.to) != 1:
            raise PermanentDeliveryError(f"a text goes to one number, not {envelope.to!r}")
        form = {"To": envelope.to[0], "Body": envelope.body_text}
        sender = self.config.sender
        form["MessagingServiceSid" if sender.startswith("MG") else "From"] = sender
        if self.config.status_callback_url:
            query = urlencode({"key": envelope.idempotency_key})
            form["StatusCallback"] = f"{self.config.status_callback_url}?{query}"
        return form

    async def deliver(self, envelope: OutboundEnvelope) -> DeliveryReceipt:
        """Send once. A failure before the request left is retried; one after it may have
        been accepted is not (a duplicate text is worse than a failure shown)."""
        url = (
            f"{self.config.base_url.rstrip('/')}/2010-04-01/Accounts/"
            f"{self.config.account_sid}/Messages.json"
        )
        auth = (self.config.account_sid, self.config.auth_token)
        try:
            async with self._client() as client:
                response = await client.post(url, data=self.form_of(envelope), auth=auth)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise TransientDeliveryError(f"could not reach the SMS provider: {exc!r}") from exc
        except httpx.HTTPError as exc:
            raise PermanentDeliveryError(
                f"the SMS provider did not answer ({exc!r}); the text may have gone out, so it "
                "is not sent again. A delivery report will correct this status if it did."
            ) from exc
        return self._receipt(response)

    def _receipt(self, response: httpx.Response) -> DeliveryReceipt:
        if response.status_code in (200, 201):
            body = response.json()
            return DeliveryReceipt(external_id=str(body["sid"]), detail=str(body.get("status", "")))
        error = _error_of(response)
        text = f"error {error.code}: {error.message}" if error.code else error.message
        if response.status_code == 429 or response.status_code >= 500:
            raise TransientDeliveryError(f"the SMS provider answered {response.status_code} {text}")
        if error.code == UNSUBSCRIBED:
            raise RecipientOptedOut(f"the recipient has unsubscribed ({text})")
        raise PermanentDeliveryError(f"the SMS provider refused the text ({text})")

    async def find_delivery(self, idempotency_key: str) -> DeliveryReceipt | DeliveryLookup:
        """Always UNKNOWN. The API has no idempotency key to look a send up by; listing the
        recipient's messages and matching the body cannot tell two identical texts apart, and a
        message missing from the list does not prove it was not sent. The send queue then marks
        the text failed instead of risking a duplicate, and a delivery report carrying our key
        corrects that if it did go out."""
        return DeliveryLookup.UNKNOWN

    def parse_inbound(self, params: Mapping[str, str]) -> InboundSms:
        """The text an inbound webhook's form describes (its media not fetched yet)."""
        return parse_inbound(params)

    def _same_origin(self, url: str) -> bool:
        ours, theirs = urlsplit(self.config.base_url), urlsplit(url)
        return (ours.scheme, ours.netloc) == (theirs.scheme, theirs.netloc)

    async def fetch_media(self, media: SmsMedia) -> SmsMedia:
        """Download one MMS attachment, at most `media_limit` bytes. The account's credentials
        go only to the provider's own host (httpx drops them on a redirect elsewhere). An error
        that may pass (no connection, a timeout, 408, 429 or a 5xx) is marked `transient`."""
        if urlsplit(media.url).scheme not in ("http", "https"):
            return msgspec.structs.replace(media, error="not an http(s) URL")
        auth = (self.config.account_sid, self.config.auth_token)
        limit = self.config.media_limit
        try:
            async with (
                self._client() as client,
                client.stream(
                    "GET",
                    media.url,
                    auth=auth if self._same_origin(media.url) else None,
                    follow_redirects=True,
                ) as response,
            ):
                if response.status_code != 200:
                    return msgspec.structs.replace(
                        media,
                        error=f"HTTP {response.status_code}",
                        transient=response.status_code in TRANSIENT_STATUSES
                        or response.status_code >= 500,
                    )
                if int(response.headers.get("content-length") or 0) > limit:
                    return msgspec.structs.replace(media, error=f"larger than {limit} bytes")
                chunks, size = [], 0
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > limit:
                        return msgspec.structs.replace(media, error=f"larger than {limit} bytes")
                    chunks.append(chunk)
                content_type = response.headers.get("content-type") or media.content_type
        except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            return msgspec.structs.replace(
                media, error=f"could not fetch it: {exc!r}", transient=True
            )
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            return msgspec.structs.replace(media, error=f"could not fetch it: {exc!r}")
        return msgspec.structs.replace(
            media, data=b"".join(chunks), content_type=content_type.split(";")[0].strip()
        )
