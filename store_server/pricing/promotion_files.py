"""Promotion files (CSV or JSON) as the head office sends them.

A file is loaded whole or not at all: every bad row is reported with its line
number, so the operator fixes the file in one pass instead of one error at a time.

CSV: UTF-8 with a header row. Columns ``id,label,kind`` are required; the others
(``gtins,categories,percent,amount_cents,buy_qty,pay_qty,bundle_qty,
bundle_price_cents,loyalty_price_cents,starts_at,ends_at,loyalty_only``) are optional
and empty cells mean "not set". ``gtins`` and ``categories`` hold several values
separated by ``;``. Unknown columns are ignored, as in the catalog CSV.

JSON: a top-level array of objects in the form of :meth:`Promotion.to_dict`.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from store_server import client_json
from store_server.pricing.promotions import Promotion
from store_server.shared.digits import is_ascii_digits
from store_server.shared.errors import InvalidInput

__all__ = ["CSV_COLUMNS", "REQUIRED_COLUMNS", "load_promotions"]

REQUIRED_COLUMNS = ("id", "label", "kind")
CSV_COLUMNS = (
    "id",
    "label",
    "kind",
    "gtins",
    "categories",
    "percent",
    "amount_cents",
    "buy_qty",
    "pay_qty",
    "bundle_qty",
    "bundle_price_cents",
    "loyalty_price_cents",
    "starts_at",
    "ends_at",
    "loyalty_only",
)


def load_promotions(path: Path) -> list[Promotion]:
    """Read every promotion of a ``.csv`` or ``.json`` file, or raise listing every problem."""
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".json"):
        raise InvalidInput(
            f"{path.name}: promotion files must end in .csv or .json",
            problems=[f"unsupported file type {suffix or '(none)'!r}"],
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidInput(
            f"{path}: cannot read file: {exc.strerror}", problems=[f"cannot read: {exc}"]
        ) from exc
    problems: list[str] = []
    text = _decode(data, problems)
    if not text.strip():
        problems.append("line 1: file is empty")
        _raise(path, problems)
    rows = _csv_rows(text, problems) if suffix == ".csv" else _json_rows(text, problems)
    promotions: list[Promotion] = []
    first_line: dict[str, int] = {}
    for line, row in rows:
        try:
            promotion = Promotion.from_dict(row)
        except InvalidInput as exc:
            problems.extend(f"line {line}: {p}" for p in _problems_of(exc))
            continue
        if promotion.id in first_line:
            problems.append(
                f"line {line}: duplicate id {promotion.id!r} (first on line "
                f"{first_line[promotion.id]})"
            )
            continue
        first_line[promotion.id] = line
        promotions.append(promotion)
    if problems:
        _raise(path, sorted(problems, key=_line_of))
    return promotions


def _raise(path: Path, problems: list[str]) -> None:
    count = len(problems)
    raise InvalidInput(
        f"{path.name}: {count} problem{'s' if count != 1 else ''}, nothing loaded",
        problems=problems,
    )


def _line_of(problem: str) -> int:
    head = problem.split(":", 1)[0]
    return int(head[5:]) if head.startswith("line ") and is_ascii_digits(head[5:]) else 0


def _problems_of(exc: InvalidInput) -> list[str]:
    inner = exc.details.get("problems")
    if isinstance(inner, list) and inner:
        return [str(p) for p in inner]
    return [exc.message]


def _decode(data: bytes, problems: list[str]) -> str:
    """UTF-8 (a BOM is allowed); each line that is not UTF-8 is reported, then replaced."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    for number, raw in enumerate(data.split(b"\n"), start=1):
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            problems.append(
                f"line {number}: not UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})"
            )
    return data.decode("utf-8", errors="replace")


def _csv_rows(text: str, problems: list[str]) -> list[tuple[int, dict[str, object]]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except (StopIteration, csv.Error) as exc:
        problems.append(f"line 1: no header row ({exc})" if str(exc) else "line 1: no header row")
        return []
    columns = [name.strip() for name in header]
    missing = [name for name in REQUIRED_COLUMNS if name not in columns]
    for name in missing:
        problems.append(f"line 1: missing column {name!r}")
    duplicated = sorted({name for name in columns if name and columns.count(name) > 1})
    for name in duplicated:
        problems.append(f"line 1: column {name!r} appears twice")
    if missing or duplicated:
        return []
    rows: list[tuple[int, dict[str, object]]] = []
    line = reader.line_num
    while True:
        start = line + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.append(f"line {start}: {exc}")
            break
        line = reader.line_num
        if not cells or all(not cell.strip() for cell in cells):
            continue
        if len(cells) != len(columns):
            problems.append(f"line {start}: has {len(cells)} fields, the header has {len(columns)}")
            continue
        rows.append((start, dict(zip(columns, cells, strict=True))))
    return rows


def _json_rows(text: str, problems: list[str]) -> list[tuple[int, dict[str, object]]]:
    try:
        document = client_json.loads(text)
    except client_json.ClientJSONError as exc:
        problems.append(f"line {exc.line}: invalid JSON: {exc.reason}")
        return []
    if not isinstance(document, list):
        problems.append("line 1: expected a JSON array of promotions")
        return []
    lines = _element_lines(text)
    rows: list[tuple[int, dict[str, object]]] = []
    for index, item in enumerate(document):
        line = lines[index] if index < len(lines) else 1
        if not isinstance(item, dict):
            problems.append(f"line {line}: expected an object, got {type(item).__name__}")
            continue
        rows.append((line, item))
    return rows


def _element_lines(text: str) -> list[int]:
    """Line on which each element of the (already valid) top-level array starts."""
    decoder = json.JSONDecoder()
    position = text.index("[") + 1
    lines: list[int] = []
    length = len(text)
    while True:
        while position < length and text[position] in " \t\r\n,":
            position += 1
        if position >= length or text[position] == "]":
            return lines
        lines.append(text.count("\n", 0, position) + 1)
        _, position = decoder.raw_decode(text, position)
