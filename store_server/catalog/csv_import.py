"""Catalog CSV parsing per PROTOCOL.md: the whole file or nothing, every bad row reported."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from store_server.catalog.service import ProductRecord
from store_server.shared.digits import is_ascii_digits
from store_server.shared.errors import InvalidCode, InvalidInput
from store_server.shared.gs1 import normalize_gtin

REQUIRED_COLUMNS = (
    "gtin",
    "name",
    "category",
    "price_cents",
    "tax_rate",
    "age_restricted",
    "sold_by",
)
MAX_PRICE_CENTS = 100_000_000  # one million in major units: anything above is a typo
MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_PROBLEMS_SHOWN = 200


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InvalidInput(
            f"line {line}: the file is not UTF-8 (byte 0x{data[exc.start]:02x} at offset "
            f"{exc.start}); save it as UTF-8 and import again",
            problems=[f"line {line}: not UTF-8"],
        ) from None


def _parse_row(row: dict[str, str | None], line: int, problems: list[str]) -> ProductRecord | None:
    start = len(problems)

    def field(name: str) -> str:
        return (row.get(name) or "").strip()

    gtin = ""
    try:
        gtin = normalize_gtin(field("gtin"))
    except InvalidCode as exc:
        problems.append(f"line {line}: gtin {field('gtin')!r}: {exc.message}")
    name, category = field("name"), field("category")
    if not name or len(name) > 200:
        problems.append(f"line {line}: name must have 1 to 200 characters")
    if not category or len(category) > 80:
        problems.append(f"line {line}: category must have 1 to 80 characters")
    price = 0
    raw_price = field("price_cents")
    if raw_price.startswith("-") and is_ascii_digits(raw_price[1:]):
        problems.append(f"line {line}: price_cents {raw_price} must not be negative")
    elif not is_ascii_digits(raw_price):
        problems.append(f"line {line}: price_cents {raw_price!r} is not a whole number of cents")
    else:
        price = int(raw_price)
        if price > MAX_PRICE_CENTS:
            problems.append(f"line {line}: price_cents {price} is above {MAX_PRICE_CENTS}")
    tax_rate = field("tax_rate")
    try:
        rate = Decimal(tax_rate)
        if not rate.is_finite() or not (Decimal(0) <= rate < Decimal(1)):
            raise InvalidOperation
        tax_rate = str(rate.normalize()) if rate else "0"
    except InvalidOperation:
        problems.append(
            f"line {line}: tax_rate {tax_rate!r} must be a decimal fraction from 0 to below 1"
        )
    age = field("age_restricted").lower()
    if age not in ("true", "false"):
        problems.append(
            f"line {line}: age_restricted {field('age_restricted')!r} must be true or false"
        )
    sold_by = field("sold_by").lower()
    if sold_by not in ("unit", "weight"):
        problems.append(f"line {line}: sold_by {field('sold_by')!r} must be unit or weight")
    effective_from = None
    raw_from = field("effective_from")
    if raw_from:
        try:
            effective_from = datetime.fromisoformat(raw_from)
            if effective_from.tzinfo is None:
                effective_from = effective_from.replace(tzinfo=UTC)
        except ValueError:
            problems.append(f"line {line}: effective_from {raw_from!r} is not an ISO 8601 instant")
    if len(problems) > start:
        return None
    return ProductRecord(
        gtin=gtin,
        name=name,
        category=category,
        price_cents=price,
        tax_rate=tax_rate,
        age_restricted=age == "true",
        sold_by=sold_by,
        effective_from=effective_from,
    )


SEPARATORS = {";": "semicolons (;)", "\t": "tabs", "|": "vertical bars (|)"}


def _other_separator(header: list[str]) -> str | None:
    """The separator a one-column header was really written with (a spreadsheet saving
    "CSV" with semicolons, as many European locales do), if it is one we recognise."""
    if len(header) != 1:
        return None
    counts = {sep: header[0].count(sep) for sep in SEPARATORS}
    best = max(counts, key=lambda sep: counts[sep])
    return SEPARATORS[best] if counts[best] else None


def parse_catalog_csv(data: bytes) -> list[ProductRecord]:
    """Every row valid, or InvalidInput listing each bad row with its line number."""
    if len(data) > MAX_FILE_BYTES:
        raise InvalidInput(f"the file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")
    text = _decode(data)
    if not text.strip():
        raise InvalidInput(
            "line 1: the file is empty; expected a header row", problems=["line 1: empty file"]
        )
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise InvalidInput(
            f"line {line}: NUL character in the file", problems=[f"line {line}: NUL"]
        )
    reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
    try:
        header = [h.strip() for h in (reader.fieldnames or [])]
    except csv.Error as exc:
        raise InvalidInput(
            f"line 1: unreadable header: {exc}", problems=["line 1: header"]
        ) from None
    reader.fieldnames = header
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    duplicated = sorted({c for c in header if header.count(c) > 1 and c in REQUIRED_COLUMNS})
    if missing or duplicated:
        parts = []
        if missing:
            parts.append("missing column(s) " + ", ".join(missing))
        if duplicated:
            parts.append("repeated column(s) " + ", ".join(duplicated))
        message = f"line 1: {'; '.join(parts)}; expected {','.join(REQUIRED_COLUMNS)}"
        found = _other_separator(header)
        if found is not None:
            message = (
                f"line 1: the columns are separated by {found}, not commas; save the file "
                f"as comma-separated CSV with the header {','.join(REQUIRED_COLUMNS)}"
            )
        raise InvalidInput(message, problems=[message])
    problems: list[str] = []
    records: list[ProductRecord] = []
    first_line: dict[str, int] = {}
    try:
        for row in reader:
            line = reader.line_num
            if None in row:
                problems.append(f"line {line}: more fields than columns in the header")
                continue
            if any(v is None for v in row.values()):
                problems.append(f"line {line}: fewer fields than columns in the header")
                continue
            record = _parse_row(row, line, problems)
            if record is None:
                continue
            if record.gtin in first_line:
                problems.append(
                    f"line {line}: GTIN {record.gtin} repeats line {first_line[record.gtin]}"
                )
                continue
            first_line[record.gtin] = line
            records.append(record)
    except csv.Error as exc:
        # ``line_num`` counts the lines of the records read whole: the one that failed
        # starts on the next line (and may run on to the end of the file).
        problems.append(f"line {reader.line_num + 1}: malformed CSV: {exc}")
    if problems:
        shown = problems[:MAX_PROBLEMS_SHOWN]
        more = len(problems) - len(shown)
        summary = f"{len(problems)} bad row(s); nothing imported"
        raise InvalidInput(summary, problems=shown + ([f"... and {more} more"] if more else []))
    return records
