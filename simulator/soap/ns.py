"""XML namespaces of Serviceplatformen and SOAP."""

SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
INVOCATION_CONTEXT = "http://serviceplatformen.dk/xml/schemas/InvocationContext/1/"
AUTHORITY_CONTEXT = "http://serviceplatformen.dk/xml/schemas/AuthorityContext/1/"
CALL_CONTEXT = "http://serviceplatformen.dk/xml/schemas/CallContext/1/"
SP_FAULT = "http://serviceplatformen.dk/xml/schemas/ServiceplatformFault/1/"
KVITTERING = "http://serviceplatformen.dk/xml/schemas/kvittering/1/"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"


def wsdl_namespace(area: str, service: str, version: int | str) -> str:
    """`http://serviceplatformen.dk/xml/wsdl/soap11/<Area>/<Service>/<version>/`."""
    return f"http://serviceplatformen.dk/xml/wsdl/soap11/{area}/{service}/{version}/"


_ASCII = str.maketrans({"æ": "ae", "ø": "oe", "å": "aa", "Æ": "Ae", "Ø": "Oe", "Å": "Aa"})


def ascii_name(name: str) -> str:
    """Serviceplatformen's ASCII spelling of a Danish name (æ→ae, ø→oe, å→aa)."""
    return name.translate(_ASCII)
