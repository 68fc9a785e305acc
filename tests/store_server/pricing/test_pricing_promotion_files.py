from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from store_server.pricing.promotion_files import load_promotions
from store_server.shared.errors import InvalidInput

HEADER = (
    "id,label,kind,gtins,categories,percent,amount_cents,buy_qty,pay_qty,bundle_qty,"
    "bundle_price_cents,loyalty_price_cents,starts_at,ends_at,loyalty_only"
)
GOOD_ROWS = [
    "P1,10% off coffee,percent_off,,coffee,10,,,,,,,2026-11-01T00:00:00+01:00,,false",
    "P2,3 for 2 crisps,multi_buy,4006381333931;036000291452,,,,3,2,,,,,,",
    'P3,"2 for 5.00, yoghurt",bundle_price,9780306406157,,,,,,2,500,,,2026-12-01T00:00:00Z,',
    "P4,Wine: any 6 for 30.00,mix_and_match,,wine;sparkling,,,,,6,3000,,,,",
    "P5,Card price butter,loyalty_price,96385074,,,,,,,,199,,,true",
    "P6,50c off cheese,amount_off,,cheese,,50,,,,,,,,yes",
]


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    return path


def problems_of(path: Path) -> list[str]:
    with pytest.raises(InvalidInput) as info:
        load_promotions(path)
    problems = info.value.details["problems"]
    assert isinstance(problems, list)
    assert "nothing loaded" in info.value.message
    return problems


def test_good_csv(tmp_path: Path) -> None:
    promotions = load_promotions(write(tmp_path, "p.csv", "\n".join([HEADER, *GOOD_ROWS]) + "\n"))
    assert [p.id for p in promotions] == ["P1", "P2", "P3", "P4", "P5", "P6"]
    p1, p2, p3, p4, p5, p6 = promotions
    assert p1.percent == Decimal(10) and p1.categories == frozenset({"coffee"})
    assert p1.starts_at is not None and p1.starts_at.isoformat() == "2026-10-31T23:00:00+00:00"
    assert p2.gtins == frozenset({"04006381333931", "00036000291452"})
    assert (p2.buy_qty, p2.pay_qty) == (3, 2)
    assert p3.label == "2 for 5.00, yoghurt" and p3.bundle_price_cents == 500
    assert p4.categories == frozenset({"wine", "sparkling"}) and p4.bundle_qty == 6
    assert p5.loyalty_only and p5.gtins == frozenset({"00000096385074"})
    assert p6.loyalty_only and p6.amount_cents == 50


def test_csv_with_bom_crlf_extra_columns_and_blank_lines(tmp_path: Path) -> None:
    text = "id,label,kind,percent,categories,note\r\nP1,Ten,percent_off,10,tea,hello\r\n\r\n"
    promotions = load_promotions(write(tmp_path, "p.CSV", b"\xef\xbb\xbf" + text.encode()))
    assert [p.id for p in promotions] == ["P1"]


def test_header_only_csv_is_no_promotions(tmp_path: Path) -> None:
    assert load_promotions(write(tmp_path, "p.csv", HEADER + "\n")) == []


def test_good_json_round_trips(tmp_path: Path) -> None:
    promotions = load_promotions(write(tmp_path, "p.csv", "\n".join([HEADER, *GOOD_ROWS])))
    path = write(tmp_path, "p.json", json.dumps([p.to_dict() for p in promotions], indent=2))
    assert load_promotions(path) == promotions


def test_every_bad_csv_row_is_reported_with_its_line(tmp_path: Path) -> None:
    rows = [
        HEADER,
        GOOD_ROWS[0],  # line 2
        "X1,Odd,cheap,,tea,,,,,,,,,,",  # line 3 unknown kind
        "X2,Bad qty,multi_buy,,tea,,,three,2,,,,,,",  # line 4 bad number
        "X3,Bad date,percent_off,,tea,5,,,,,,,2026-02-30T00:00:00Z,,",  # line 5 bad date
        GOOD_ROWS[1],  # line 6
        "P1,Again,percent_off,,tea,5,,,,,,,,,",  # line 7 duplicate id
        "X4,Short row,percent_off,,tea",  # line 8 missing cells
        "X5,Naive,percent_off,,tea,5,,,,,,,2026-02-01T00:00:00,,",  # line 9 no offset
        "X6,Bad GTIN,percent_off,4006381333932,,5,,,,,,,,,",  # line 10 check digit
    ]
    problems = problems_of(write(tmp_path, "p.csv", "\n".join(rows) + "\n"))
    by_line = {int(p.split(":")[0].removeprefix("line ")): p for p in problems}
    assert sorted(by_line) == [3, 4, 5, 7, 8, 9, 10], problems
    assert "unknown kind 'cheap'" in by_line[3]
    assert "bad number for buy_qty" in by_line[4]
    assert "bad date for starts_at" in by_line[5]
    assert "duplicate id 'P1' (first on line 2)" in by_line[7]
    assert "has 5 fields" in by_line[8]
    assert "UTC offset" in by_line[9]
    assert "check digit" in by_line[10]


def test_multiline_quoted_cell_keeps_line_numbers(tmp_path: Path) -> None:
    rows = [HEADER, 'P1,"two\nlines",percent_off,,tea,5,,,,,,,,,', "X,Bad,cheap,,tea,,,,,,,,,,"]
    problems = problems_of(write(tmp_path, "p.csv", "\n".join(rows)))
    assert problems == ["line 4: unknown kind 'cheap'"]


@pytest.mark.parametrize("column", ["id", "label", "kind"])
def test_missing_column(tmp_path: Path, column: str) -> None:
    columns = [c for c in HEADER.split(",") if c != column]
    problems = problems_of(write(tmp_path, "p.csv", ",".join(columns) + "\n"))
    assert problems == [f"line 1: missing column '{column}'"]


def test_missing_optional_column_needed_by_a_row(tmp_path: Path) -> None:
    text = "id,label,kind,gtins\nP1,x,percent_off,96385074\n"
    problems = problems_of(write(tmp_path, "p.csv", text))
    assert problems == ["line 2: percent_off needs percent"]


def test_non_utf8_bytes_are_reported_per_line(tmp_path: Path) -> None:
    data = "\n".join([HEADER, GOOD_ROWS[0], GOOD_ROWS[1]]).encode()
    data += b"\nP9,Caf\xe9,percent_off,,tea,5,,,,,,,,,\n"
    problems = problems_of(write(tmp_path, "p.csv", data))
    assert len(problems) == 1
    assert problems[0].startswith("line 4: not UTF-8 (byte 0xe9")


def test_latin1_file_with_other_errors_reports_all(tmp_path: Path) -> None:
    rows = [HEADER, "P1,Caf\xe9,percent_off,,tea,5,,,,,,,,,", "P2,x,cheap,,tea,,,,,,,,,,"]
    problems = problems_of(write(tmp_path, "p.csv", "\n".join(rows).encode("latin-1")))
    assert [p.split(":")[0] for p in problems] == ["line 2", "line 3"]


@pytest.mark.parametrize("name", ["p.csv", "p.json"])
@pytest.mark.parametrize("content", [b"", b"  \n\n"])
def test_empty_file(tmp_path: Path, name: str, content: bytes) -> None:
    assert problems_of(write(tmp_path, name, content)) == ["line 1: file is empty"]


def test_wrong_extension(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"\.csv or \.json"):
        load_promotions(write(tmp_path, "p.txt", HEADER))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="cannot read"):
        load_promotions(tmp_path / "absent.csv")


def test_json_rows_report_their_lines(tmp_path: Path) -> None:
    good = {
        "id": "P1",
        "label": "Ten",
        "kind": "percent_off",
        "categories": ["tea"],
        "percent": "10",
    }
    spread = json.dumps({**good, "id": "P3", "percent": "lots"}, indent=1)
    text = (
        "[\n"
        + ",\n".join(
            [
                json.dumps(good),  # line 2
                json.dumps({**good, "id": "P2", "kind": "x"}),  # line 3
                spread,  # lines 4-12
                "42",  # line 13
            ]
        )
        + "\n]\n"
    )
    assert len(spread.splitlines()) == 9
    problems = problems_of(write(tmp_path, "p.json", text))
    assert problems[0] == "line 3: unknown kind 'x'"
    assert problems[1].startswith("line 4: bad number for percent")
    assert problems[2] == "line 13: expected an object, got int"


def test_json_duplicate_id(tmp_path: Path) -> None:
    good = {"id": "P1", "label": "Ten", "kind": "percent_off", "categories": ["tea"], "percent": 10}
    problems = problems_of(write(tmp_path, "p.json", json.dumps([good, good], indent=0)))
    assert len(problems) == 1 and "duplicate id 'P1'" in problems[0]


def test_json_syntax_error_has_line(tmp_path: Path) -> None:
    problems = problems_of(write(tmp_path, "p.json", '[\n{"id": "P1",\n "label" "x"}\n]'))
    assert len(problems) == 1 and problems[0].startswith("line 3: invalid JSON")


def test_json_must_be_an_array(tmp_path: Path) -> None:
    problems = problems_of(write(tmp_path, "p.json", '{"promotions": []}'))
    assert problems == ["line 1: expected a JSON array of promotions"]
