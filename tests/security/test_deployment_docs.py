"""The deployment guide's nginx sample keeps secrets out of its access log (issue 19,
finding 9): screens were paired with ``?token=`` links, which a default nginx log
(``$request``) records. Tokens now travel in headers, bodies and URL fragments; the
proxy's log must not record query strings or referrers either."""

from __future__ import annotations

import re
from pathlib import Path

DEPLOYMENT = Path(__file__).resolve().parents[2] / "docs" / "deployment.md"
LEAKY = ("$request ", '$request"', "$request_uri", "$args", "$query_string", "$http_referer")


def nginx_sample() -> str:
    blocks = re.findall(r"```nginx\n(.*?)```", DEPLOYMENT.read_text(), re.S)
    assert blocks, "docs/deployment.md has no nginx sample"
    return "\n".join(blocks)


def test_the_nginx_sample_logs_paths_without_query_strings() -> None:
    sample = nginx_sample()
    formats = dict(re.findall(r"log_format\s+(\w+)\s+((?:'[^']*'\s*)+);", sample))
    logs = re.findall(r"access_log\s+(\S+)(?:\s+(\w+))?\s*;", sample)
    assert logs, "the sample must say where it logs (nginx's default format has $request)"
    for target, name in logs:
        if target == "off":
            continue
        assert name in formats, f"access_log {target} uses nginx's default format"
        text = formats[name]
        assert "$uri" in text
        assert not [v for v in LEAKY if v in text + " "], text


def test_the_pairing_link_the_guide_gives_keeps_its_token_in_the_fragment() -> None:
    text = DEPLOYMENT.read_text() + (DEPLOYMENT.parent / "PROTOCOL.md").read_text()
    assert "play?token=" not in text.replace("`?token=`", "")
