"""One exchange (`/ui/traffic/{id}`): the decision and why, timings and ids, the context read, the request
and response pretty-printed, and the call as a curl command that reproduces it."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

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
    """A shell command that sends the recorded request again (None for a call to no known service)."""
    service = rt.routes.services.get(row["service"] or "")
    if service is None:
        return None
    base = str(request.base_url).rstrip("/")
    lines = [f"curl -sS -X POST '{base}{service.path}'", "  -H 'Content-Type: text/xml; charset=utf-8'"]
    contract = rt.pipeline.contract_for(service)
    op = contract.operations.get(row["operation"] or "") if contract is not None else None
    if op is not None and op.soap_action:
        lines.append(f"  -H 'SOAPAction: \"{op.soap_action}\"'")
    for header, key in (("X-Correlation-Id", "correlation_id"), ("X-Simulator-Session", "session")):
        if row.get(key) and "'" not in row[key]:
            lines.append(f"  -H '{header}: {row[key]}'")
    lines.append("  --data-binary @- <<'SOAP_REQUEST_EOF'")
    return " \\\n".join(lines) + "\n" + row["request_body"] + "\nSOAP_REQUEST_EOF\n"
