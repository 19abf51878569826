"""TLS for the mail servers we talk to (SMTP out, IMAP in): the server's certificate and host
name are always checked, against the system's CAs or the PEM bundle in `INBOX_TLS_CA_FILE`."""

from __future__ import annotations

import ssl


def client_context(ca_file: str | None) -> ssl.SSLContext:
    """A client context that verifies the server: against `ca_file` when given (a private CA,
    a self-signed server), otherwise against the system's trusted CAs."""
    return ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=ca_file or None)


def untrusted_certificate(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate check that failed somewhere in this error's chain, if any (the mail
    libraries wrap it in their own connection errors)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLCertVerificationError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def untrusted_message(server: str, error: ssl.SSLCertVerificationError) -> str:
    reason = error.verify_message or error.reason or str(error)
    return (
        f"the {server} server's TLS certificate is not trusted ({reason}); if it is signed by "
        "a private CA, give that CA's certificate in INBOX_TLS_CA_FILE"
    )
