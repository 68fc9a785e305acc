"""The CLI of PROTOCOL.md as other programs call it: real processes, real databases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from store_server.baskets.models import BasketLine
from store_server.catalog.models import Product
from tests.dbrows import row_count
from tests.servers import ServerProcess, caddie

HEADER = "gtin,name,category,price_cents,tax_rate,age_restricted,sold_by\n"
GOOD_ROWS = (
    "4006381333931,Pencil HB,stationery,120,0.20,false,unit\n"
    "036000291452,Tissues,hygiene,250,0.20,false,unit\n"
    "96385074,Chewing gum,sweets,90,0.055,false,unit\n"
    "9780306406157,A book (ISBN),books,1999,0.055,false,unit\n"
    "2500010000000,Apples per kg,produce,299,0.055,false,weight\n"
    "3263851234568,Whisky 70 cl,spirits,2599,0.20,true,unit\n"
)


def products_in(url: str) -> int:
    return row_count(url, Product)


def write(tmp_path: Path, text: str | bytes, name: str = "catalog.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def test_device_enroll_prints_one_tab_line_per_device_in_order(db_url: str) -> None:
    result = caddie("device", "enroll", "H-9", "H-1", "H-5", "--database-url", db_url)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split("\t")[0] for line in lines] == ["H-9", "H-1", "H-5"]
    tokens = [line.split("\t")[1] for line in lines]
    assert all(len(t) >= 32 for t in tokens) and len(set(tokens)) == 3
    again = caddie("device", "enroll", "H-1", "--database-url", db_url)
    assert again.stdout.split("\t")[1].strip() != tokens[1]


def test_device_revoke_stops_a_connected_handheld_at_its_next_request(
    db_url: str, tmp_path: Path
) -> None:
    """Revoked from the command line while the store serves it: the server process
    refuses the open connection's next request and closes it with 4401."""
    catalog = write(tmp_path, HEADER + GOOD_ROWS)
    assert caddie("catalog", "import", str(catalog), "--database-url", db_url).returncode == 0
    token = caddie("device", "enroll", "H-1", "--database-url", db_url).stdout.split("\t")[1]

    def ask(ws: ClientConnection, message: dict[str, object]) -> dict[str, object]:
        ws.send(json.dumps(message))
        reply: dict[str, object] = json.loads(ws.recv(timeout=10))
        return reply

    with ServerProcess(db_url) as server, connect(server.ws_url) as ws:
        hello = {"type": "hello", "protocol": 1, "device_id": "H-1", "token": token.strip()}
        assert ask(ws, hello)["type"] == "welcome"
        assert ask(ws, {"type": "start", "id": "s1", "loyalty_card": "2900000000017"})["type"] == (
            "basket"
        )
        assert ask(ws, {"type": "scan", "id": "c1", "code": "4006381333931"})["type"] == "ack"
        revoked = caddie("device", "revoke", "H-1", "--database-url", db_url)
        assert revoked.returncode == 0, revoked.stderr
        refused = ask(ws, {"type": "scan", "id": "c2", "code": "4006381333931"})
        assert (refused["code"], refused["id"]) == ("unauthorized", "c2")
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    assert row_count(db_url, BasketLine) == 1


def test_device_enroll_rejects_bad_ids(sqlite_url: str) -> None:
    result = caddie("device", "enroll", "ok-1", "bad id with spaces", "--database-url", sqlite_url)
    assert result.returncode == 1
    assert "bad id with spaces" in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == ""


def test_catalog_import_upserts_and_counts(db_url: str, tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + GOOD_ROWS)
    result = caddie("catalog", "import", str(path), "--database-url", db_url)
    assert result.returncode == 0, result.stderr
    assert "6 created" in result.stdout
    assert products_in(db_url) == 6
    changed = write(
        tmp_path,
        HEADER + GOOD_ROWS.replace("Pencil HB,stationery,120", "Pencil HB,stationery,130"),
        "b.csv",
    )
    result = caddie("catalog", "import", str(changed), "--database-url", db_url)
    assert "0 created, 1 updated, 5 unchanged" in result.stdout


def test_extra_columns_and_a_bom_are_fine(sqlite_url: str, tmp_path: Path) -> None:
    text = (
        "\ufeff"
        + HEADER.strip()
        + ",brand\n"
        + "".join(row.strip() + ",Acme\n" for row in GOOD_ROWS.splitlines())
    )
    result = caddie("catalog", "import", str(write(tmp_path, text)), "--database-url", sqlite_url)
    assert result.returncode == 0, result.stderr
    assert products_in(sqlite_url) == 6


@pytest.mark.parametrize(
    "body, expected",
    [
        ("4006381333932,Bad check,x,1,0.2,false,unit\n", ["line 3", "check digit"]),
        ("400638133393,Wrong length,x,1,0.2,false,unit\n", ["line 3"]),
        ("4006381333931,,x,1,0.2,false,unit\n", ["line 3", "name"]),
        ("4006381333931,Pen,x,1.50,0.2,false,unit\n", ["line 3", "price_cents"]),
        ("4006381333931,Pen,x,-5,0.2,false,unit\n", ["line 3", "price_cents"]),
        ("4006381333931,Pen,x,\u00b2,0.2,false,unit\n", ["line 3", "price_cents"]),  # "²"
        ("4006381333931,Pen,x,\u0663,0.2,false,unit\n", ["line 3", "price_cents"]),  # Arabic 3
        ("\u0664006381333931,Pen,x,1,0.2,false,unit\n", ["line 3", "gtin"]),
        ("4006381333931,Pen,x,99999999999999,0.2,false,unit\n", ["line 3", "price_cents"]),
        ("4006381333931,Pen,x,1,20%,false,unit\n", ["line 3", "tax_rate"]),
        ("4006381333931,Pen,x,1,1.5,false,unit\n", ["line 3", "tax_rate"]),
        ("4006381333931,Pen,x,1,0.2,maybe,unit\n", ["line 3", "age_restricted"]),
        ("4006381333931,Pen,x,1,0.2,false,litre\n", ["line 3", "sold_by"]),
        ("4006381333931,Pen,x,1,0.2,false\n", ["line 3", "fewer fields"]),
        ("4006381333931,Pen,x,1,0.2,false,unit,extra\n", ["line 3", "more fields"]),
        ("04006381333931,Same GTIN-14,x,1,0.2,false,unit\n", ["line 3", "repeats line 2"]),
        # A malformed record is reported at the line it starts on, however far it runs.
        ('4006381333931,"Unclosed,x,1,0.2,false,unit\n', ["line 3", "malformed CSV"]),
        ('4006381333931,"Unclosed,x,1,0.2,false,unit\n1,2\n3,4\n', ["line 3", "malformed"]),
        ("4006381333931," + "x" * 200_000 + ",x,1,0.2,false,unit\n", ["line 3", "field larger"]),
    ],
)
def test_a_bad_row_rejects_the_whole_file(
    sqlite_url: str, tmp_path: Path, body: str, expected: list[str]
) -> None:
    path = write(tmp_path, HEADER + "4006381333931,Good row,x,100,0.2,false,unit\n" + body)
    result = caddie("catalog", "import", str(path), "--database-url", sqlite_url)
    assert result.returncode == 1
    for fragment in expected:
        assert fragment in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert products_in(sqlite_url) == 0


def test_every_bad_row_is_reported(sqlite_url: str, tmp_path: Path) -> None:
    body = (
        "4006381333931,Good,x,1,0.2,false,unit\n"
        "123,Bad gtin,x,1,0.2,false,unit\n"
        "036000291452,Good,x,1,0.2,false,unit\n"
        "96385074,Bad price,x,abc,0.2,false,unit\n"
    )
    result = caddie(
        "catalog", "import", str(write(tmp_path, HEADER + body)), "--database-url", sqlite_url
    )
    assert result.returncode == 1
    assert "line 3" in result.stderr and "line 5" in result.stderr
    assert "line 2:" not in result.stderr and "line 4:" not in result.stderr
    assert products_in(sqlite_url) == 0


@pytest.mark.parametrize(
    "content, fragment",
    [
        (b"", "empty"),
        (b"gtin,name,price_cents\n4006381333931,Pen,1\n", "missing column"),
        ((HEADER + "4006381333931,Caf\xe9,x,1,0.2,false,unit\n").encode("latin-1"), "not UTF-8"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "not UTF-8"),
        (HEADER.encode() + b'4006381333931,"unterminated,x,1,0.2,false,unit\n', "line"),
    ],
)
def test_unusable_files_get_a_clear_error(
    sqlite_url: str, tmp_path: Path, content: bytes, fragment: str
) -> None:
    result = caddie(
        "catalog", "import", str(write(tmp_path, content)), "--database-url", sqlite_url
    )
    assert result.returncode == 1
    assert fragment in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert products_in(sqlite_url) == 0


def test_missing_file_and_bad_database_url(tmp_path: Path) -> None:
    result = caddie("catalog", "import", str(tmp_path / "nope.csv"))
    assert result.returncode == 1 and "cannot read" in result.stderr
    path = write(tmp_path, HEADER + GOOD_ROWS)
    result = caddie("catalog", "import", str(path), "--database-url", "mysql://x")
    assert result.returncode == 1 and "database_url" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_default_database_is_a_sqlite_file_in_the_working_directory(tmp_path: Path) -> None:
    import os

    env = {k: v for k, v in os.environ.items() if k != "CADDIE_DATABASE_URL"}
    result = caddie("device", "enroll", "H-1", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "caddie.db").exists()
