"""A throwaway Dovecot (IMAP + LMTP on loopback) for the tests and the ingest benchmark.

Started once per test session with a config of our own (`dovecot -F -c CONF`); the system's
Dovecot configuration is never read or touched. Each test adds its own mail user, so tests
never see each other's mail.
"""

from __future__ import annotations

import contextlib
import grp
import imaplib
import os
import pwd
import shutil
import smtplib
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

PASSWORD = "secret"
USERS = 500

CONFIG = """
base_dir = {dir}/run
state_dir = {dir}/state
instance_name = dovecot-test-{port}
log_path = {dir}/dovecot.log
protocols = imap lmtp
listen = 127.0.0.1
{ssl}
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = {user}
default_login_user = {login_user}
default_internal_group = {group}
first_valid_uid = 1
mail_location = maildir:{dir}/mail/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {dir}/passwd
}}
userdb {{
  driver = static
  args = uid={user} gid={group} home={dir}/mail/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps_port}
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {lmtp_port}
  }}
}}
service anvil {{
  chroot =
}}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class TlsFiles:
    """The server's certificate chain and its private key, as PEM files."""

    cert_chain: Path
    key: Path


@dataclass
class Dovecot:
    directory: Path
    port: int
    lmtp_port: int
    process: subprocess.Popen[bytes]

    users: list[str] = field(default_factory=list)
    # With TLS: IMAP over TLS from the first byte here, and STARTTLS on `port`; 0 without.
    imaps_port: int = 0

    def add_user(self) -> str:
        """A mail user (and mailbox) no one has used yet; the address is also the login."""
        # Dovecot may not notice a passwd-file changed within the same second, so every user
        # is written before it starts and handed out here.
        return self.users.pop()

    def deliver(self, user: str, message: EmailMessage | bytes) -> None:
        """Hand a message to Dovecot's LMTP, as a mail server does."""
        with smtplib.LMTP("127.0.0.1", self.lmtp_port) as lmtp:
            if isinstance(message, EmailMessage):
                lmtp.send_message(message, to_addrs=[user])
            else:
                lmtp.sendmail("sender@example.com", [user], message)

    def imap(self, user: str) -> imaplib.IMAP4:
        client = imaplib.IMAP4("127.0.0.1", self.port)
        client.login(user, PASSWORD)
        return client

    def append(self, user: str, raws: list[bytes], mailbox: str = "INBOX") -> None:
        """Put many messages in a mailbox at once (much faster than LMTP, one by one)."""
        client = self.imap(user)
        try:
            client.create(mailbox)
            for raw in raws:
                client.append(mailbox, "", None, raw)
        finally:
            client.logout()


def _wait_ready(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"dovecot exited: {log.read_text() if log.exists() else ''}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1) as s:
            if s.recv(100).startswith(b"* OK"):
                return
        time.sleep(0.05)
    raise TimeoutError("dovecot did not greet in 10 s")


@contextlib.contextmanager
def running_dovecot(extra_config: str = "", tls: TlsFiles | None = None) -> Iterator[Dovecot]:
    """Start a Dovecot of our own; raises FileNotFoundError when it is not installed. With
    `tls`, it offers STARTTLS on its IMAP port and implicit TLS on `imaps_port`."""
    binary = shutil.which("dovecot") or (
        "/usr/sbin/dovecot" if Path("/usr/sbin/dovecot").exists() else None
    )
    if binary is None:
        raise FileNotFoundError("dovecot")
    # Its processes run as `dovecot` when we are root; pytest's tmp_path (0700) is unreadable.
    directory = Path(tempfile.mkdtemp(prefix="inbox-dovecot-"))
    directory.chmod(0o755)
    (directory / "mail").mkdir()
    users = [f"inbox-{uuid.uuid4().hex[:8]}@oem.test" for _ in range(USERS)]
    (directory / "passwd").write_text("".join(f"{u}:{{PLAIN}}{PASSWORD}\n" for u in users))
    if os.geteuid() == 0:
        user, login_user, group = "dovecot", "dovenull", "dovecot"
        shutil.chown(directory / "mail", "dovecot", "dovecot")
    else:
        user = login_user = pwd.getpwuid(os.getuid()).pw_name
        group = grp.getgrgid(os.getgid()).gr_name
    port, lmtp_port = _free_port(), _free_port()
    imaps_port = _free_port() if tls else 0
    ssl = "ssl = no"
    if tls is not None:
        # Copied in, so the key stays where only this Dovecot's directory reaches it.
        shutil.copy(tls.cert_chain, directory / "cert.pem")
        shutil.copy(tls.key, directory / "key.pem")
        ssl = f"ssl = yes\nssl_cert = <{directory}/cert.pem\nssl_key = <{directory}/key.pem"
    config = directory / "dovecot.conf"
    config.write_text(
        CONFIG.format(
            dir=directory,
            ssl=ssl,
            port=port,
            imaps_port=imaps_port,
            lmtp_port=lmtp_port,
            user=user,
            login_user=login_user,
            group=group,
        )
        + extra_config
    )
    process = subprocess.Popen(
        [binary, "-F", "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        _wait_ready(port, process, directory / "dovecot.log")
        yield Dovecot(directory, port, lmtp_port, process, users, imaps_port)
    finally:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(10)
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()
        shutil.rmtree(directory, ignore_errors=True)
