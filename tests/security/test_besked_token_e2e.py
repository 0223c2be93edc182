"""Token model on Beskedfordeleren end to end: a publish with a bad or missing token gets a non-20
StandardRetur over HTTP and nothing is distributed; with security off the same message is accepted."""

from __future__ import annotations

from tests.beskedfordeler.conftest import statusskift
from tests.beskedfordeler.test_send_and_pull import send


async def test_bad_or_missing_token_is_refused_with_a_standardretur(sim_factory, tmp_path):
    async with sim_factory(
        components=["ky", "beskedfordeler", "security"], security_mode="token", certs_dir=tmp_path / "certs"
    ) as sim:
        status, text = await send(sim, statusskift(), token="bm90IGEgdG9rZW4=")
        assert status not in (20, None) and text and "SP-17" in text
        status, text = await send(sim, statusskift())
        assert status != 20 and "SP-173" in text
        received = (await sim.client.get("/api/beskedfordeler/ky/modtaget")).json()
        assert not (received.get("items") if isinstance(received, dict) else received)  # nothing distributed


async def test_with_security_off_the_same_message_is_accepted(sim_factory):
    async with sim_factory(components=["ky", "beskedfordeler"]) as sim:
        status, text = await send(sim, statusskift(), x_simulator_system="opus")
        assert status == 20, text
