"""SMTP through aiosmtplib: one reused connection per worker, failures sorted into transient and permanent."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from email.headerregistry import Address
from enum import StrEnum

import aiosmtplib
import structlog

from shared.logging import mask_emails

log = structlog.get_logger()


# A connection idle longer than this may have been dropped by the server: check it first.
IDLE_CHECK_S = 10.0
QUIT_TIMEOUT_S = 5.0


class Outcome(StrEnum):
    SENT = "sent"
    TRANSIENT = "transient"
    PERMANENT = "permanent"


@dataclass(frozen=True)
class SendResult:
    outcome: Outcome
    error: str | None = None

    def __post_init__(self) -> None:
        # Servers quote the refused address; the ledger and the failure event must not.
        if self.error is not None:
            object.__setattr__(self, "error", mask_emails(self.error))

    @property
    def sent(self) -> bool:
        return self.outcome is Outcome.SENT


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    starttls: bool = False
    tls: bool = False
    username: str | None = None
    password: str | None = None
    timeout_s: float = 30.0
    validate_certs: bool = True


def classify(exc: BaseException) -> SendResult:
    """Transient: the server or the network may do better later. Permanent: it never will.

    4xx replies, dropped connections and timeouts are transient; 5xx replies are permanent,
    except authentication failures, which are the operator's configuration, not the message's.
    """
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        worst = max(codes, default=550)
        detail = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)
        return _by_code(worst, f"recipient refused: {detail}")
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return SendResult(Outcome.TRANSIENT, f"authentication failed: {exc.code} {exc.message}")
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return _by_code(exc.code, f"{type(exc).__name__}: {exc.code} {exc.message}")
    if isinstance(exc, aiosmtplib.SMTPException | OSError | TimeoutError):
        return SendResult(Outcome.TRANSIENT, f"{type(exc).__name__}: {exc}")
    raise exc


def _by_code(code: int, error: str) -> SendResult:
    return SendResult(Outcome.PERMANENT if 500 <= code < 600 else Outcome.TRANSIENT, error)


def valid_address(address: str) -> bool:
    """A syntactically usable single mailbox (no header folding, one @, a domain with a dot)."""
    if any(c in address for c in "\r\n<>, ") or address.count("@") != 1:
        return False
    try:
        parsed = Address(addr_spec=address)
    except (ValueError, IndexError):
        return False
    return bool(parsed.username) and "." in parsed.domain


class SmtpSender:
    """Sends raw messages over one SMTP connection, opened lazily and reopened after failures."""

    def __init__(self, config: SmtpConfig) -> None:
        self._config = config
        self._client: aiosmtplib.SMTP | None = None
        self._last_used = 0.0
        self._lock = asyncio.Lock()

    async def send(self, *, sender: str, recipient: str, message: bytes) -> SendResult:
        """One attempt; never raises for SMTP or network trouble, it reports it."""
        if not valid_address(recipient):
            return SendResult(Outcome.PERMANENT, "invalid recipient address")
        async with self._lock:
            try:
                client = await self._connected()
                await client.sendmail(sender, [recipient], message)
            except Exception as exc:
                result = classify(exc)
                await self._after_failure(exc)
                return result
            self._last_used = time.monotonic()
            return SendResult(Outcome.SENT)

    async def close(self) -> None:
        async with self._lock:
            await self._drop()

    async def _connected(self) -> aiosmtplib.SMTP:
        client = self._client
        if client is not None and client.is_connected:
            if time.monotonic() - self._last_used < IDLE_CHECK_S:
                return client
            try:
                await client.noop()
                return client
            except aiosmtplib.SMTPException:
                await self._drop()
        cfg = self._config
        client = aiosmtplib.SMTP(
            hostname=cfg.host,
            port=cfg.port,
            use_tls=cfg.tls,
            start_tls=cfg.starttls if not cfg.tls else False,
            username=cfg.username,
            password=cfg.password,
            timeout=cfg.timeout_s,
            validate_certs=cfg.validate_certs,
        )
        await client.connect()
        self._client = client
        return client

    async def _after_failure(self, exc: BaseException) -> None:
        # A refusal leaves the session usable after RSET; anything else gets a fresh connection.
        if isinstance(exc, aiosmtplib.SMTPResponseException | aiosmtplib.SMTPRecipientsRefused):
            client = self._client
            if client is not None and client.is_connected:
                try:
                    await client.rset()
                    return
                except aiosmtplib.SMTPException as rset_error:
                    log.debug("smtp.reset_failed", error=str(rset_error))
        await self._drop()

    async def _drop(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        try:
            if client.is_connected:
                # A polite QUIT, but never wait on a server that stopped answering.
                await asyncio.wait_for(client.quit(), QUIT_TIMEOUT_S)
        except (aiosmtplib.SMTPException, OSError, TimeoutError):
            client.close()
