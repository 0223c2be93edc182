"""The debtor system: books per municipality, the operations KY may call, and the way one call is
answered (:meth:`DebtorSystem.handle`).

What a vendor learns here, in the order a call meets it:

1. the request must be a SOAP envelope (otherwise a SOAP fault);
2. the call is made on behalf of the municipality the endpoint serves (``AuthorityContext``), and this
   debtor system must serve that municipality (``DEB-002``);
3. the operation is looked up in the table below and runs against that municipality's books; a
   :class:`~examples.reference_debtor.soap.Refused` anywhere becomes ``AFVIST`` with its code;
4. the answer is sent; only then are the events the call put in the outbox published (1e), in the
   background, so a slow or absent Beskedfordeler never delays or changes an answer to KY.

A handler is a plain function ``(cvr, books, payload, ns, resp) -> Begrundelse``: `payload` is the
``<Operation>Request`` element, `ns` its namespace, `resp` the ``<Operation>Response`` to append the
answer to (its receipt is already in place). Tests may swap one on an instance (``debtor.op_X = …``)
to play a changed build.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from lxml import etree

from examples.reference_debtor import forespoergsel, indbetaling, registrering
from examples.reference_debtor.config import Config
from examples.reference_debtor.outgoing import Platform
from examples.reference_debtor.soap import AC, KV, WSDL_NS, Refused, body_payload, envelope, fault, response, sub, text
from examples.reference_debtor.state import Books

log = logging.getLogger("reference_debtor")


class DebtorSystem:
    # The operations KY calls (SOAP operation name without "Request"), each a function of its service module.
    # B_01 DebitorRegistreringAfsend (1a)
    op_OpretDebitorkonto = staticmethod(registrering.opret_debitorkonto)
    op_RetFordringTilstand = staticmethod(registrering.ret_fordring_tilstand)
    op_AfslutHaeftelse = staticmethod(registrering.afslut_haeftelse)
    op_AfslutAdministrator = staticmethod(registrering.afslut_administrator)
    # B_02 DebitorForespoergselAfsend (1b)
    op_SoegDebitorkonto = staticmethod(forespoergsel.soeg_debitorkonto)
    op_LaesDebitorkonto = staticmethod(forespoergsel.laes_debitorkonto)
    # B_03 DebitorIndbetalingAfsend (1c)
    op_ForetagIndbetaling = staticmethod(indbetaling.foretag_indbetaling)
    op_SoegDelfordringTilIndbetaling = staticmethod(indbetaling.soeg_delfordring_til_indbetaling)

    def __init__(self, config: Config) -> None:
        self.config = config
        self.books: dict[str, Books] = {}  # by municipality CVR
        self.platform = Platform(config)  # 1d and 1e: the calls this system makes
        self.received: list[dict] = []  # what KY sent: (municipality, service, operation)
        self._tasks: set[asyncio.Task] = set()

    def books_for(self, cvr: str) -> Books:
        """The municipality's books; refused unless this debtor system serves the municipality."""
        if self.config.identities and cvr not in self.config.identities:
            raise Refused("DEB-002", f"this debtor system does not serve municipality {cvr}")
        return self.books.setdefault(cvr, Books())

    async def handle(self, cvr: str, service: str, body: bytes) -> bytes:
        """Answer one SF1590 call to ``/<cvr>/service/OIR/<service>/1``: a response envelope."""
        try:
            payload = body_payload(body)
        except ValueError:
            return fault("not a SOAP 1.1 envelope")
        op = etree.QName(payload).localname.removesuffix("Request")
        ns = WSDL_NS.format(service)
        self.received.append({"municipality": cvr, "service": service, "operation": op})
        books: Books | None = None
        try:
            authority = text(payload.find(f"{{{AC}}}AuthorityContext"), AC, "MunicipalityCVR", False)
            if authority and authority != cvr:
                raise Refused("DEB-002", f"the call is on behalf of {authority}, but this endpoint serves {cvr}")
            books = self.books_for(cvr)
            handler = getattr(self, f"op_{op}", None)
            if handler is None:
                raise Refused("DEB-007", f"{service} has no operation {op}")
            resp = response(service, op, "ACCEPTERET")
            why = handler(cvr, books, payload, ns, resp)
            if why:
                sub(resp[0], KV, "Begrundelse", why)
            if books.outbox and self.config.publish_messages:
                self.spawn(self.platform.publish_all(cvr, list(books.outbox)))  # after the answer, never delaying it
        except Refused as e:
            resp = response(service, op, "AFVIST", e.text, e)
        finally:
            if books is not None:
                books.outbox.clear()  # handed to the publisher, or dropped with a refused or failed call
        return envelope(resp)

    async def report(self, cvr: str, *, resend: bool = False) -> list[dict]:
        """Send every coverage and write-off KY has not yet accepted (with `resend`: all of them again)."""
        return await self.platform.report(cvr, self.books_for(cvr).to_report(resend=resend))

    # background work: messages and automatic reports ----------------------------------------------

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task:
        """Run `coro` in the background; its failure is logged, never raised."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)

        def done(t: asyncio.Task) -> None:
            self._tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                log.error("background task failed", exc_info=t.exception())

        task.add_done_callback(done)
        return task

    async def report_quietly(self, cvr: str) -> None:
        """:meth:`report`, for the background: a failure is logged (``/admin/<cvr>/report`` shows what is unsent)."""
        try:
            await self.report(cvr)
        except Exception:  # noqa: BLE001 - best effort
            log.warning("automatic coverage report for %s failed", cvr, exc_info=True)

    async def drain(self, timeout: float = 10) -> None:
        """Wait (up to `timeout` s) for the background sends still running (at shutdown)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)
