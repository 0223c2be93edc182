"""Finding 4 (STS): over TLS the REST issue binds the token to the client certificate: without one it is
refused (a UseKey alone proves nothing: certificates are public), with another than UseKey as well."""

from __future__ import annotations

import base64
import ssl

import httpx
from cryptography.hazmat.primitives import serialization

from tests.security.conftest import PING_ENTITY
from tests.serviceplatform.pingservice import CVR

REST_ISSUE = "/runtime/api/rest/wstrust/v1/issue"


def rst(creds) -> dict:
    use_key = base64.b64encode(creds.cert.public_bytes(serialization.Encoding.DER)).decode()
    return {
        "AnvenderKontekst": {"Cvr": CVR},
        "UseKey": use_key,
        "AppliesTo": {"EndpointReference": {"Address": PING_ENTITY}},
    }


def test_over_tls_a_rest_issue_without_a_client_certificate_is_refused(tls_live, test_pki):
    anonymous = ssl.create_default_context(cafile=str(test_pki.pki.ca_cert))
    caller = ssl.create_default_context(cafile=str(test_pki.pki.ca_cert))
    caller.load_cert_chain(*test_pki.caller.pair)
    with tls_live(security_mode="token") as live:
        with httpx.Client(verify=anonymous, base_url=live.url, headers={"connection": "close"}) as client:
            r = client.post(REST_ISSUE, json=rst(test_pki.caller))
            assert r.status_code == 401 and r.json()["error"] == "STS-103", r.text
            assert "client certificate" in r.json()["error_description"]
        with httpx.Client(verify=caller, base_url=live.url, headers={"connection": "close"}) as client:
            assert client.post(REST_ISSUE, json=rst(test_pki.caller)).status_code == 200
            r = client.post(REST_ISSUE, json=rst(test_pki.stranger))
            assert r.status_code == 400 and r.json()["error"] == "STS-103"
