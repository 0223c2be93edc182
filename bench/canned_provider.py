"""A provider that answers every POST with the same SOAP response, as fast as uvicorn allows."""

RESPONSE = (
    b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
    b'<b:EkkoResponse xmlns:b="urn:bench"><b:Tekst>ok</b:Tekst></b:EkkoResponse></soap:Body></soap:Envelope>'
)


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/xml")]})
    await send({"type": "http.response.body", "body": RESPONSE})
