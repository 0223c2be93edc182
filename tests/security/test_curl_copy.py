"""Finding 2: "Copy as curl" on an exchange page is a shell command that no recorded body can break out of.

The command is pasted into a real `bash` with `curl` replaced by a recorder on PATH; the bytes the recorder
reads on its standard input must be the recorded body, and nothing else may run."""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.serviceplatform.pingservice import write_routes

PATH = "/service/Test/Ping/1"
RECORDER = """#!/bin/sh
printf '%s\\n' "$@" > "$CURL_RECORD_DIR/args"
cat > "$CURL_RECORD_DIR/body"
"""

HOSTILE = {
    "heredoc delimiter": '<a>\nSOAP_REQUEST_EOF\ntouch "$PWNED"\nEOF\n</a>',
    "single quotes": "<a x='1'>'; touch \"$PWNED\"; echo '</a>",
    "command substitution": '<a>$(touch "$PWNED") ${PWNED} $PWNED</a>',
    "backticks": '<a>`touch "$PWNED"`</a>',
    "backslashes and percent": "<a>\\' \\\\ %s %d %% \\n \\x41</a>\n",
    "crlf": '<a>\r\nline\r\n\'\r\nSOAP_REQUEST_EOF\r\n$(touch "$PWNED")</a>\r\n',
    "binary-ish text": "<a>\x01\x02\x1b[31m\x7f tab\there æøå ✓ \u2028</a>",
    "leading dash and at": "-@/etc/passwd\n--next\n",
    "trailing newlines": "<a/>\n\n\n",
}


def curl_command(page: str) -> str:
    match = re.search(r'<textarea id="curl"[^>]*>(.*?)</textarea>', page, re.S)
    assert match, "the exchange page offers no curl command"
    return html.unescape(match.group(1))


@pytest.fixture
def recorder(tmp_path: Path) -> dict[str, str]:
    if not shutil.which("bash") or not shutil.which("base64"):
        pytest.skip("bash and base64 are needed to run the copied command")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "curl").write_text(RECORDER)
    (bin_dir / "curl").chmod(0o755)
    record = tmp_path / "record"
    record.mkdir()
    return {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "CURL_RECORD_DIR": str(record),
        "PWNED": str(tmp_path / "pwned"),
        "HOME": str(tmp_path),
    }


@pytest.mark.parametrize("name", list(HOSTILE))
async def test_the_copied_curl_command_sends_exactly_the_recorded_body(sim_factory, tmp_path, recorder, name):
    body = HOSTILE[name]
    async with sim_factory(routes_dir=write_routes(tmp_path / "routes", "builtin:nothing"), components=[]) as sim:
        r = await sim.client.post(
            PATH, content=body.encode(), headers={"content-type": "text/xml", "x-correlation-id": "it's $(id)"}
        )
        exchange_id = r.headers["x-simulator-exchange-id"]
        page = await sim.client.get(f"/ui/traffic/{exchange_id}")
        assert page.status_code == 200
        command = curl_command(page.text)

    out = subprocess.run(["bash", "-c", command], env=recorder, capture_output=True, timeout=20)
    assert out.returncode == 0, out.stderr
    record = Path(recorder["CURL_RECORD_DIR"])
    assert (record / "body").read_bytes() == body.encode()
    assert not Path(recorder["PWNED"]).exists(), "a body line ran as a shell command"
    args = (record / "args").read_text().splitlines()
    assert f"{sim.settings.base_url}{PATH}" in args
    assert "X-Correlation-Id: it's $(id)" in args
    assert args[-2:] == ["--data-binary", "@-"]
