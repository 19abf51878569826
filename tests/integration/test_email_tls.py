"""TLS to the mail servers, for real: aiosmtpd with STARTTLS and with TLS from the first byte,
Dovecot with STARTTLS and implicit TLS (imaps), each with a certificate from a throwaway CA made
here (trustme). The app trusts that CA only through `INBOX_TLS_CA_FILE` (`ca_file`), and a
server whose certificate it cannot verify is refused with an error that says so."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
import sqlalchemy as sa
import trustme
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from channels.email.imap import ImapConfig, ImapError, ImapWatcher
from channels.email.smtp import SmtpChannel, SmtpConfig, SmtpTls
from channels.storage import FileAttachmentStore
from inbox.conversations.models import Channel, Message
from inbox.core.ports import OutboundEnvelope, TransientDeliveryError
from inbox.email.placement import ThreadingContext
from inbox.events.log import MemoryPublisher
from server.services import email_channel, imap_watcher
from server.settings import SettingsError, load_settings
from tests.conftest import service_missing
from tests.support.dovecot import PASSWORD, Dovecot, TlsFiles, running_dovecot
from tests.support.smtp import SmtpServer, smtp_server

Maker = async_sessionmaker[AsyncSession]
CONTEXT = ThreadingContext("tls-test-secret-key-0123456789abcdef", "replies@oem.test")


@dataclass(frozen=True)
class Pki:
    ca: trustme.CA
    ca_file: Path  # the CA that signed the servers' certificate
    other_ca_file: Path  # a CA that signed nothing the servers show
    server: TlsFiles

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        return context


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    ca, other = trustme.CA(), trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    ca.cert_pem.write_to_path(str(directory / "ca.pem"))
    other.cert_pem.write_to_path(str(directory / "other-ca.pem"))
    chain = directory / "server-chain.pem"
    chain.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    cert.private_key_pem.write_to_path(str(directory / "server-key.pem"))
    return Pki(
        ca,
        directory / "ca.pem",
        directory / "other-ca.pem",
        TlsFiles(chain, directory / "server-key.pem"),
    )


@pytest.fixture(scope="module")
def tls_dovecot(pki: Pki) -> Iterator[Dovecot]:
    try:
        with running_dovecot(tls=pki.server) as server:
            yield server
    except FileNotFoundError:
        service_missing("Dovecot (apt-get install dovecot-imapd dovecot-lmtpd)")


def envelope(n: int) -> OutboundEnvelope:
    return OutboundEnvelope(
        message_id=n,
        idempotency_key=f"tls-{n}",
        channel=Channel.EMAIL,
        to=("pat@example.com",),
        subject=f"Your quote {n}",
        body_text="Hello Pat, here is the quote.",
        from_name="Dana",
        from_address="dana@oem.example",
        reply_to="replies@oem.example",
    )


def channel(server: SmtpServer, tls: SmtpTls, ca_file: Path | None, tmp_path: Path) -> SmtpChannel:
    config = SmtpConfig(
        server.host, server.port, tls=tls, timeout=10, ca_file=str(ca_file) if ca_file else None
    )
    return SmtpChannel(config, FileAttachmentStore(tmp_path / "files"))


# --- SMTP -----------------------------------------------------------------------------------


async def test_smtp_starttls_sends_when_the_ca_is_trusted(pki: Pki, tmp_path: Path) -> None:
    with smtp_server(starttls=pki.server_context()) as server:
        # The server refuses mail before STARTTLS, so what arrives came over TLS.
        with pytest.raises(Exception, match="STARTTLS"):
            await channel(server, "none", None, tmp_path).deliver(envelope(0))
        assert server.sink.received == []

        receipt = await channel(server, "starttls", pki.ca_file, tmp_path).deliver(envelope(1))
        assert [r.address for r in receipt.recipients] == ["pat@example.com"]
        (received,) = await server.sink.wait_for(1)
        assert received.rcpt_tos == ["pat@example.com"]
        assert received.message["Subject"] == "Your quote 1"


async def test_smtp_implicit_tls_sends_when_the_ca_is_trusted(pki: Pki, tmp_path: Path) -> None:
    with smtp_server(implicit_tls=pki.server_context()) as server:
        receipt = await channel(server, "tls", pki.ca_file, tmp_path).deliver(envelope(2))
        assert receipt.detail.startswith("250")
        (received,) = await server.sink.wait_for(1)
        assert received.message["Subject"] == "Your quote 2"


@pytest.mark.parametrize("tls", ["starttls", "tls"])
@pytest.mark.parametrize("trust", ["system CAs", "another CA"])
async def test_smtp_refuses_a_server_whose_certificate_it_cannot_verify(
    pki: Pki, tmp_path: Path, tls: SmtpTls, trust: str
) -> None:
    ca_file = None if trust == "system CAs" else pki.other_ca_file
    server_context = pki.server_context()
    with smtp_server(
        starttls=server_context if tls == "starttls" else None,
        implicit_tls=server_context if tls == "tls" else None,
    ) as server:
        with pytest.raises(TransientDeliveryError) as raised:
            await channel(server, tls, ca_file, tmp_path).deliver(envelope(3))
        message = str(raised.value)
        assert "SMTP server's TLS certificate is not trusted" in message
        assert "(unable to get local issuer certificate)" in message, message
        assert "INBOX_TLS_CA_FILE" in message
        assert server.sink.received == [], "nothing is handed to a server we cannot verify"


# --- IMAP -----------------------------------------------------------------------------------


def imap(
    maker: Maker, dovecot: Dovecot, user: str, tls: SmtpTls, ca_file: Path | None, tmp_path: Path
) -> ImapWatcher:
    port = dovecot.imaps_port if tls == "tls" else dovecot.port
    config = ImapConfig(
        "127.0.0.1", port, user, PASSWORD, tls, ca_file=str(ca_file) if ca_file else None
    )
    return ImapWatcher(
        config,
        maker,
        MemoryPublisher(),
        context=CONTEXT,
        store=FileAttachmentStore(tmp_path / "files"),
        lease=timedelta(seconds=30),
    )


def mail(n: int) -> EmailMessage:
    m = EmailMessage()
    m["From"] = "Pat Example <pat@example.com>"
    m["To"] = "replies@oem.test"
    m["Subject"] = f"Over TLS {n}"
    m["Message-ID"] = f"<tls-{n}@example.com>"
    m.set_content(f"Question {n}, read over TLS.")
    return m


@pytest.mark.parametrize("tls", ["starttls", "tls"])
async def test_imap_reads_mail_over_tls_when_the_ca_is_trusted(
    sessionmaker: Maker, tls_dovecot: Dovecot, pki: Pki, tmp_path: Path, tls: SmtpTls
) -> None:
    user = tls_dovecot.add_user()
    tls_dovecot.deliver(user, mail(1))
    watcher = imap(sessionmaker, tls_dovecot, user, tls, pki.ca_file, tmp_path)
    assert await watcher.sync_once() == 1
    async with sessionmaker() as s:
        subjects = list(await s.scalars(sa.select(Message.subject)))
    assert subjects == ["Over TLS 1"]


@pytest.mark.parametrize("tls", ["starttls", "tls"])
@pytest.mark.parametrize("trust", ["system CAs", "another CA"])
async def test_imap_refuses_a_server_whose_certificate_it_cannot_verify(
    tls_dovecot: Dovecot, pki: Pki, tmp_path: Path, tls: SmtpTls, trust: str
) -> None:
    user = tls_dovecot.add_user()
    tls_dovecot.deliver(user, mail(2))
    ca_file = None if trust == "system CAs" else pki.other_ca_file
    # Never reached: the connection fails before the database is asked anything.
    unused: Maker = async_sessionmaker()
    watcher = imap(unused, tls_dovecot, user, tls, ca_file, tmp_path)
    with pytest.raises(ImapError) as raised:
        await watcher.sync_once()
    message = str(raised.value)
    assert "IMAP server's TLS certificate is not trusted" in message
    assert "(unable to get local issuer certificate)" in message, message
    assert "INBOX_TLS_CA_FILE" in message


# --- Settings -------------------------------------------------------------------------------


def test_the_ca_file_setting_reaches_both_channels(pki: Pki, tmp_path: Path) -> None:
    settings = load_settings(
        {
            "INBOX_DATA_DIR": str(tmp_path),
            "INBOX_SMTP_HOST": "smtp.oem.example",
            "INBOX_IMAP_HOST": "imap.oem.example",
            "INBOX_IMAP_USERNAME": "replies@oem.example",
            "INBOX_TLS_CA_FILE": str(pki.ca_file),
        }
    )
    assert settings.smtp is not None and settings.imap is not None
    assert settings.smtp.ca_file == settings.imap.ca_file == str(pki.ca_file)
    smtp = email_channel(settings)
    assert isinstance(smtp, SmtpChannel) and smtp.config.ca_file == str(pki.ca_file)
    watcher = imap_watcher(
        settings, async_sessionmaker(), MemoryPublisher(), FileAttachmentStore(tmp_path)
    )
    assert watcher is not None and watcher.config.ca_file == str(pki.ca_file)
    unset = load_settings({"INBOX_DATA_DIR": str(tmp_path), "INBOX_SMTP_HOST": "smtp.oem.example"})
    assert unset.smtp is not None and unset.smtp.ca_file is None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "INBOX_TLS_CA_FILE: no such file"),
        (b"", "INBOX_TLS_CA_FILE: not a readable PEM file of CA certificates"),
        (b"not a certificate\n", "INBOX_TLS_CA_FILE: not a readable PEM file of CA certificates"),
    ],
)
def test_a_bad_ca_file_stops_start_up_with_one_line(
    tmp_path: Path, content: bytes | None, message: str
) -> None:
    path = tmp_path / "ca.pem"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(SettingsError, match=message) as raised:
        load_settings({"INBOX_DATA_DIR": str(tmp_path), "INBOX_TLS_CA_FILE": str(path)})
    assert "\n" not in str(raised.value)
