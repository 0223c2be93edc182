"""The component registry: capabilities are wired by type, providers start first whatever order
SIMULATOR_COMPONENTS lists, and a needed capability without provider stops the start with its name."""

from __future__ import annotations

import itertools

import pytest

from simulator.beskedfordeler import Beskedfordeler
from simulator.capabilities import BeskedSenderCheck, BeskedTypes, KyActions, SortimentDelivery, StatusChangeSink
from simulator.ky import KyLedger
from simulator.runtime import BUILTIN_COMPONENTS, ComponentError, load_components, start_order
from simulator.scenarios.runs import RunManager


def _names(components) -> list[str]:
    return [c.name for c in components]


def test_every_order_of_the_setting_gives_the_same_start_order():
    orders = {tuple(_names(load_components(list(p)))) for p in itertools.permutations(BUILTIN_COMPONENTS)}
    assert len(orders) == 1
    [order] = orders
    # providers first: security (the token check) before the Beskedfordeler, the Beskedfordeler (where KY
    # registers its receiver) before KY, everything the scenarios drive before scenarios
    assert order.index("security") < order.index("beskedfordeler")
    assert order.index("beskedfordeler") < order.index("ky")
    assert order[-1] == "scenarios"


@pytest.mark.parametrize("order", [list(BUILTIN_COMPONENTS), list(reversed(BUILTIN_COMPONENTS))])
async def test_started_in_any_order_the_token_check_reaches_the_beskedfordeler(sim_factory, order):
    async with sim_factory(components=order, security_mode="token") as sim:
        rt = sim.rt
        bf = rt.get(Beskedfordeler)
        assert bf.sender_verifier is not None and bf.sender_verifier is rt.get(BeskedSenderCheck)
        assert isinstance(rt.get(KyActions), KyLedger) and rt.get(StatusChangeSink) is rt.get(KyLedger)
        assert rt.get(BeskedTypes) is bf.cfg
        assert isinstance(rt.get(SortimentDelivery).current_version(), int)
        assert rt.find(RunManager) is not None
        health = (await sim.client.get("/healthz")).json()
        assert all(health[name]["ok"] for name in BUILTIN_COMPONENTS), health


def test_a_needed_capability_without_provider_is_a_start_up_error_naming_it():
    class Needy:
        name = "needy"
        provides = ()
        needs = (SortimentDelivery,)
        wants = ()

    with pytest.raises(ComponentError, match="needy needs SortimentDelivery, which no loaded component provides"):
        start_order([Needy()])


def test_components_that_need_each_other_are_refused():
    class A:
        name, provides, needs, wants = "a", (int,), (str,), ()

    class B:
        name, provides, needs, wants = "b", (str,), (int,), ()

    with pytest.raises(ComponentError, match="cycle"):
        start_order([A(), B()])


async def test_without_a_component_its_capability_is_absent(sim_factory):
    async with sim_factory(components=["beskedfordeler"]) as sim:
        assert sim.rt.find(KyActions) is None
        with pytest.raises(LookupError, match="no running component provides KyActions"):
            sim.rt.get(KyActions)
        assert (await sim.client.get("/healthz")).json()["beskedfordeler"]["ok"]
