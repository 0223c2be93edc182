"""One exchange (`/ui/traffic/{id}`): the decision and why, timings and ids, the context read, the request
and response pretty-printed, and the call as a curl command that reproduces it."""

from __future__ import annotations

import base64
import re
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from simulator.security.personal import mask_cpr
from simulator.web.deps import RuntimeDep
from simulator.web.ui.common import not_found, page_router, render
from simulator.web.ui.xml import xml_html

router = page_router()


@router.get("/ui/traffic/{exchange_id}", response_class=HTMLResponse)
async def exchange(request: Request, rt: RuntimeDep, exchange_id: str) -> HTMLResponse:
    row = await rt.exchanges.get(exchange_id)
    if row is None:
        return not_found(request, f"exchange {exchange_id}", "traffic")
    systems = {s.uuid: s for s in rt.routes.systems.values()}
    if rt.settings.mask_cpr:  # SIMULATOR_MASK_CPR: what the page shows (and the curl command) is masked
        row = {
            **row,
            "request_body": mask_cpr(row["request_body"] or ""),
            "response_body": mask_cpr(row["response_body"] or ""),
        }
    return render(
        request,
        "exchange.html",
        "traffic",
        x=row,
        request_xml=xml_html(row["request_body"]),
        response_xml=xml_html(row["response_body"]),
        system=systems.get(row["system_uuid"] or ""),
        agreement=rt.routes.agreements.get(row["agreement_uuid"] or ""),
        municipality=rt.routes.municipalities.get(row["municipality"] or ""),
        route=rt.routes.route_for(row["service"], row["municipality"]) if row["service"] else None,
        curl=curl_of(request, rt, row),
    )


def curl_of(request: Request, rt, row: dict[str, Any]) -> str | None:
    """A shell command that sends the recorded request again (None for a call to no known service).

    Every value is a single-quoted shell word, and the body reaches curl on its standard input
    (`--data-binary @-`) from `printf %s '<body>'`: inside single quotes the shell expands nothing, so no
    body (a heredoc delimiter line, quotes, `$(…)`, backticks) can end the literal and run as a command. A
    body with a carriage return or another control character (which a terminal may rewrite when it is
    pasted) goes as base64 through `base64 -d` instead."""
    service = rt.routes.services.get(row["service"] or "")
    if service is None:
        return None
    base = str(request.base_url).rstrip("/")
    args = ["curl -sS -X POST " + shell_word(f"{base}{service.path}"), "  -H 'Content-Type: text/xml; charset=utf-8'"]
    contract = rt.pipeline.contract_for(service)
    op = contract.operations.get(row["operation"] or "") if contract is not None else None
    if op is not None and op.soap_action:
        args.append("  -H " + shell_word(f'SOAPAction: "{op.soap_action}"'))
    for header, key in (("X-Correlation-Id", "correlation_id"), ("X-Simulator-Session", "session")):
        value = row.get(key)
        if value and _PRINTABLE.fullmatch(value):
            args.append("  -H " + shell_word(f"{header}: {value}"))
    args.append("  --data-binary @-")
    return body_feed(row["request_body"] or "") + " \\\n  | " + " \\\n".join(args) + "\n"


_PRINTABLE = re.compile(r"[\x20-\x7e]*")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def shell_word(value: str) -> str:
    """`value` as one single-quoted shell word (a `'` inside becomes `'\\''`)."""
    return "'" + value.replace("'", "'\\''") + "'"


def body_feed(body: str) -> str:
    """A shell pipeline head that writes exactly the bytes of `body` (UTF-8) to its standard output."""
    if _CONTROL.search(body):
        return "printf %s " + shell_word(base64.b64encode(body.encode("utf-8")).decode("ascii")) + " | base64 -d"
    return "printf %s " + shell_word(body)
