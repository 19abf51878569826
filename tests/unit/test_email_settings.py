"""The email-sending settings: defaults that follow the TLS mode, and one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.services import email_channel
from server.settings import SettingsError, load_settings


def settings(tmp_path: Path, **env: str) -> object:
    return load_settings({"INBOX_DATA_DIR": str(tmp_path), **env})


def test_the_port_follows_the_tls_mode_and_the_reply_address_the_domain(tmp_path: Path) -> None:
    default = load_settings({"INBOX_DATA_DIR": str(tmp_path), "INBOX_EMAIL_DOMAIN": "oem.example"})
    assert default.smtp is None, "no host: no SMTP section"
    assert default.email.reply_address == "replies@oem.example"
    assert default.email.max_attachment_bytes == 10 * 1024 * 1024
    assert email_channel(default) is None, "no host: email goes to the sandbox"
    tls = load_settings(
        {
            "INBOX_DATA_DIR": str(tmp_path),
            "INBOX_SMTP_HOST": "smtp.oem.example",
            "INBOX_SMTP_TLS": "TLS",
            "INBOX_REPLY_ADDRESS": "Replies@OEM.example",
        }
    )
    assert tls.smtp is not None
    assert (tls.smtp.host, tls.smtp.tls, tls.smtp.port) == ("smtp.oem.example", "tls", 465)
    assert tls.email.reply_address == "replies@oem.example"
    assert type(email_channel(tls)).__name__ == "SmtpChannel"
    demo = load_settings(
        {
            "INBOX_DATA_DIR": str(tmp_path),
            "INBOX_SMTP_HOST": "smtp.oem.example",
            "INBOX_MODE": "demo",
        }
    )
    assert email_channel(demo) is None, "the demo never mails the outside world"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"INBOX_SMTP_TLS": "ssl"}, "INBOX_SMTP_TLS: expected none, starttls or tls"),
        ({"INBOX_SMTP_PORT": "70000"}, "INBOX_SMTP_PORT: expected a port number"),
        ({"INBOX_SMTP_PORT": "x"}, "INBOX_SMTP_PORT: expected a whole number"),
        ({"INBOX_SMTP_PASSWORD": "s3cret"}, "INBOX_SMTP_USERNAME: required"),
        ({"INBOX_REPLY_ADDRESS": "replies+x@oem.example"}, "INBOX_REPLY_ADDRESS: expected"),
        ({"INBOX_REPLY_ADDRESS": "replies"}, "INBOX_REPLY_ADDRESS: expected"),
        ({"INBOX_MAX_ATTACHMENT_BYTES": "0"}, "INBOX_MAX_ATTACHMENT_BYTES: must be at least 1"),
        ({"INBOX_MAX_ATTACHMENT_BYTES": "999999999"}, "INBOX_MAX_ATTACHMENT_BYTES: at most"),
    ],
)
def test_a_bad_value_names_its_variable(tmp_path: Path, env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message.replace("+", r"\+")):
        settings(tmp_path, **env)
