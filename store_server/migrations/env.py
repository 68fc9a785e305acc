"""Alembic environment for every Caddie table (store server and signage)."""

from __future__ import annotations

import importlib

from alembic import context
from sqlalchemy import pool
from sqlmodel import SQLModel

from store_server.db import make_engine

MODEL_MODULES = (
    "store_server.catalog.models",
    "store_server.devices.models",
    "store_server.auth.models",
    "store_server.baskets.models",
    "store_server.checkout.models",
    "store_server.offers.models",
    "store_server.manager.models",
    "store_server.signals.models",
    "store_server.shopper.models",
    "signage.models",
)
for name in MODEL_MODULES:
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name:
            raise

config = context.config
target_metadata = SQLModel.metadata


def run_migrations_online() -> None:
    url = config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url")
    engine = make_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
