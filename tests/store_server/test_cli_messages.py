"""What the CLI tells a person: which separator a catalog really used, each problem once,
a negative price called negative, the database an import wrote to, and what
``caddie user disable`` / ``enable`` did. Real processes, real databases."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.servers import caddie
from tests.store_server.test_cli import HEADER, products_in, write

pytestmark = pytest.mark.integration  # each test runs caddie processes

ROW = "4006381333931,Pencil HB,stationery,120,0.20,false,unit\n"


def test_a_semicolon_separated_catalog_names_its_separator(sqlite_url: str, tmp_path: Path) -> None:
    path = write(tmp_path, (HEADER + ROW).replace(",", ";"))
    result = caddie("catalog", "import", str(path), "--database-url", sqlite_url)
    assert result.returncode == 1
    assert "separated by semicolons (;), not commas" in result.stderr
    assert "Traceback" not in result.stderr
    assert products_in(sqlite_url) == 0


def test_a_tab_separated_catalog_names_its_separator(sqlite_url: str, tmp_path: Path) -> None:
    path = write(tmp_path, (HEADER + ROW).replace(",", "\t"))
    result = caddie("catalog", "import", str(path), "--database-url", sqlite_url)
    assert result.returncode == 1 and "separated by tabs" in result.stderr


def test_a_header_missing_columns_still_says_which(sqlite_url: str, tmp_path: Path) -> None:
    path = write(tmp_path, "gtin,name\n4006381333931,Pencil\n")
    result = caddie("catalog", "import", str(path), "--database-url", sqlite_url)
    assert result.returncode == 1
    assert "missing column(s) category, price_cents" in result.stderr
    assert "separated by" not in result.stderr


def test_every_catalog_problem_is_printed_once(sqlite_url: str, tmp_path: Path) -> None:
    path = write(tmp_path, "gtin;name\n")
    result = caddie("catalog", "import", str(path), "--database-url", sqlite_url)
    assert result.returncode == 1
    assert result.stderr.count("separated by semicolons") == 1
    bad = write(tmp_path, HEADER + ROW.replace(",120,", ",abc,"), "bad.csv")
    result = caddie("catalog", "import", str(bad), "--database-url", sqlite_url)
    assert result.stderr.count("'abc' is not a whole number of cents") == 1


def test_a_negative_price_is_called_negative(sqlite_url: str, tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + ROW.replace(",120,", ",-5,"))
    result = caddie("catalog", "import", str(path), "--database-url", sqlite_url)
    assert result.returncode == 1
    assert "line 2: price_cents -5 must not be negative" in result.stderr
    assert "whole number" not in result.stderr
    assert products_in(sqlite_url) == 0


def test_the_import_names_the_database_it_wrote_to(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + ROW)
    env = {k: v for k, v in os.environ.items() if k != "CADDIE_DATABASE_URL"}
    result = caddie("catalog", "import", str(path), cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert f"into the SQLite database {tmp_path.resolve() / 'caddie.db'}" in result.stdout


def test_a_server_database_is_named_without_its_password() -> None:
    from store_server.cli_support import describe_database

    named = describe_database("postgresql+psycopg://caddie:s3cret@db.example:5432/store")
    assert "db.example" in named and "/store" in named and "s3cret" not in named


def test_user_disable_and_enable_say_what_they_did(sqlite_url: str) -> None:
    env = {"CADDIE_NEW_PASSWORD": "a-long-enough-password"}
    made = caddie(
        "user", "create", "dora", "--role", "staff", "--database-url", sqlite_url, env=env
    )
    assert made.returncode == 0, made.stderr
    disabled = caddie("user", "disable", "dora", "--database-url", sqlite_url)
    assert disabled.returncode == 0
    assert disabled.stdout.startswith("disabled dora: it cannot log in")
    enabled = caddie("user", "enable", "dora", "--database-url", sqlite_url)
    assert enabled.returncode == 0
    assert enabled.stdout.startswith("enabled dora: it can log in again")
    unknown = caddie("user", "enable", "nobody", "--database-url", sqlite_url)
    assert unknown.returncode == 1 and "no user 'nobody'" in unknown.stderr
    assert unknown.stdout == ""
