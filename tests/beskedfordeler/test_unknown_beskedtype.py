"""A message of a beskedtype nobody knows is refused saying so, not with the text of a missing agreement."""

from __future__ import annotations

from tests.beskedfordeler.conftest import FORDRING, STATUSSKIFT, statuskode, statusskift

UNKNOWN = "0d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6"


async def _send(sim, body: bytes) -> tuple[int, str | None]:
    r = await sim.client.post("/beskedfordeler/afsend", content=body)
    assert r.status_code == 200
    return statuskode(r.content)


async def test_an_unknown_beskedtype_is_named_as_unknown(sim) -> None:
    body = statusskift().replace(STATUSSKIFT.encode(), UNKNOWN.encode())
    code, text = await _send(sim, body)
    assert code == 43
    assert text.startswith(f"INGEN_AFTALE: unknown beskedtype {UNKNOWN} (Filtreringsdata/Beskedtype)")
    # it says what the Beskedfordeler knows instead, and who sent it for which municipality
    assert f"DebitorkontoStatusskift {STATUSSKIFT}" in text and f"FordringTilIndbetaling {FORDRING}" in text
    assert "'opus'" in text and "11111111" in text
    ex = (await sim.client.get("/api/exchanges", params={"service": "BeskedAfsend"})).json()["items"]
    assert ex[0]["fault_code"] == "INGEN_AFTALE"


async def test_a_known_beskedtype_without_agreement_still_says_no_agreement(sim) -> None:
    code, text = await _send(sim, statusskift(municipality="22222222"))  # opus sends only for 11111111
    assert code == 43 and text.startswith("INGEN_AFTALE: system 'opus'") and "unknown beskedtype" not in text
