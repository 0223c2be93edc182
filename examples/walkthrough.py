"""A short walkthrough of checklist items 1a–1d against a running simulator and reference debtor
system (`make demo` starts both): KY registers an account with two claims, pays on one, and the
debtor system reports a coverage and a write-off back; then both sides' books are compared.

`python -m examples.walkthrough [--simulator http://127.0.0.1:8000] [--debtor http://127.0.0.1:8001]`
"""

from __future__ import annotations

import argparse
import sys
import time

import httpx

CVR = "11111111"


def wait(url: str, deadline_s: float = 30) -> None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < deadline_s:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    sys.exit(f"{url} did not answer within {deadline_s:.0f} s")


def check(ok: bool, what: str) -> None:
    print(f"  {'ok ' if ok else 'FAIL'} {what}")
    if not ok:
        sys.exit(1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--simulator", default="http://127.0.0.1:8000")
    ap.add_argument("--debtor", default="http://127.0.0.1:8001")
    a = ap.parse_args()
    wait(a.simulator + "/healthz")
    wait(a.debtor + "/healthz")
    ky = httpx.Client(base_url=a.simulator + "/api/ky", timeout=30)
    debtor = httpx.Client(base_url=a.debtor, timeout=30)

    print(f"1a  KY registers a debtor account with two claims in municipality {CVR} (OpretDebitorkonto)")
    r = ky.post(
        "/accounts",
        json={
            "municipality": CVR,
            "debitor": {"cpr": "0101701234", "name": "Karen Demo"},
            "claims": [{"amount": "1000.00"}, {"amount": "250.50"}],
        },
    ).json()
    acc = r["account"]
    sent = r["sent"]
    print(f"    account {acc['uuid']}: {sent['kvittering']['status']} ({sent['kvittering']['begrundelse']})")
    print(f"    exchange {sent['exchange_id']} (see GET /api/exchanges/{sent['exchange_id']})")
    check(sent["accepted"], "the debtor system accepted the registration")
    big, small = sorted(acc["claims"], key=lambda c: -float(c["amount"]))

    print(f"1c  KY pays 300.00 on claim {big['uuid']} (ForetagIndbetaling)")
    r = ky.post(f"/claims/{big['uuid']}/payments", json={"amount": "300.00"}).json()
    print(f"    {r['sent']['kvittering']['status']}: {r['sent']['kvittering']['begrundelse']}")
    check(r["sent"]["accepted"], "the debtor system accepted the payment and covered the claim from it")

    print("1d  the debtor system reports its coverage to KY (RegistrerDaekning)")
    for x in debtor.post(f"/admin/{CVR}/report").json():
        print(f"    {x['art']} {x['amount']}: {x['status']} ({x.get('begrundelse')})")
        check(x["status"] == "ACCEPTERET", "KY accepted the coverage")
    print(f"1d  the debtor system writes off 50.50 on claim {small['uuid']} and reports it (RegistrerAfskrivning)")
    r = debtor.post(
        f"/admin/{CVR}/afskrivninger",
        json={"claim_uuid": small["uuid"], "amount": "50.50", "aarsag": "Smaabeloeb", "reason": "below the limit"},
    ).json()
    for x in r["postings"]:
        print(f"    {x['art']} {x['amount']}: {x['status']} ({x.get('begrundelse')})")
    check(r["status"] == "ACCEPTERET", "KY accepted the write-off")

    print("1d  the debtor system sends both again (a retry): KY accepts them once and never counts them twice")
    for x in debtor.post(f"/admin/{CVR}/report", params={"resend": "true"}).json():
        print(f"    {x['art']} {x['amount']}: {x['status']} ({x.get('begrundelse')})")
        check(x["status"] == "ACCEPTERET" and "not counted again" in (x.get("begrundelse") or ""), "idempotent")

    print("1b  KY's books and the debtor system's books (LaesDebitorkonto) agree:")
    mine = ky.get(f"/accounts/{acc['uuid']}").json()
    theirs = ky.get(f"/accounts/{acc['uuid']}/remote").json()["account"]
    remote = {c["uuid"]: c for c in theirs["claims"]}
    print(f"    {'claim':38s} {'amount':>9s} {'covered':>9s} {'written off':>11s} {'KY':>9s} {'debtor':>9s}")
    for c in mine["claims"]:
        print(
            f"    {c['uuid']:38s} {c['amount']:>9s} {c['covered']:>9s} {c['written_off']:>11s} "
            f"{c['outstanding']:>9s} {remote[c['uuid']]['outstanding']:>9s}"
        )
        check(c["outstanding"] == remote[c["uuid"]]["outstanding"], "same outstanding amount on both sides")
    print(f"    account outstanding: KY {mine['outstanding']}, debtor system {theirs['outstanding']}")
    check(mine["outstanding"] == theirs["outstanding"] == "900.00", "900.00 outstanding on the account")

    exchanges = httpx.get(a.simulator + "/api/exchanges", params={"limit": 20}, timeout=10).json()["items"]
    print("    recorded on the platform (newest first):")
    for e in exchanges:
        if e["service"] and e["service"].startswith(("Debitor", "Daekning")):
            print(f"      {e['origin']:4s} {e['service']}.{e['operation']} → {e['decision']} ({e['status']})")
    print("done: items 1a-1d work end to end.")


if __name__ == "__main__":
    main()
