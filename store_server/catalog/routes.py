"""Catalog and promotions REST API (admin role to change, staff may read)."""

from __future__ import annotations

import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import func
from sqlmodel import col, select

from store_server import client_json
from store_server.body_limit import allow_upload
from store_server.catalog import service
from store_server.catalog.csv_import import parse_catalog_csv
from store_server.catalog.models import Product, ProductPublic
from store_server.deps import ERROR_RESPONSES, CurrentAdmin, CurrentStaff, SessionDep, StateDep
from store_server.pricing.promotion_files import load_promotions
from store_server.pricing.promotions import Promotion
from store_server.shared.errors import InvalidInput
from store_server.shared.gs1 import normalize_gtin
from store_server.timeutil import utcnow
from store_server.websec import require_media_type

router = APIRouter(prefix="/api", tags=["catalog"], responses=ERROR_RESPONSES)


class ProductPage(BaseModel):
    total: int
    items: list[ProductPublic]


class ImportReply(BaseModel):
    created: int
    updated: int
    unchanged: int
    prices_scheduled: int


class ProductBody(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    category: str = Field(min_length=1, max_length=80)
    price_cents: int = Field(ge=0, le=100_000_000)
    tax_rate: str = Field(pattern=r"^0(\.\d{1,6})?$")
    age_restricted: bool = False
    sold_by: str = Field(default="unit", pattern=r"^(unit|weight)$")


def _as_public(product: service.PricedProduct) -> ProductPublic:
    return ProductPublic(**asdict(product))


def _public(session: Any, gtin: str) -> ProductPublic:
    return _as_public(service.get_product(session, gtin))


@router.get("/catalog/products", response_model=ProductPage)
def list_products(
    session: SessionDep,
    user: CurrentStaff,
    q: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> ProductPage:
    query = select(Product)
    count = select(func.count()).select_from(Product)
    if q:
        pattern = f"%{q}%"
        cond = col(Product.name).ilike(pattern) | col(Product.gtin).like(pattern)
        query, count = query.where(cond), count.where(cond)
    total = session.exec(count).one()
    rows = session.exec(query.order_by(col(Product.gtin)).offset(offset).limit(limit)).all()
    priced = service.find_products(session, [r.gtin for r in rows], at=utcnow())
    items = [_as_public(priced[r.gtin]) for r in rows if r.gtin in priced]
    return ProductPage(total=total, items=items)


@router.get("/catalog/products/{gtin}", response_model=ProductPublic)
def get_product(gtin: str, session: SessionDep, user: CurrentStaff) -> ProductPublic:
    return _public(session, normalize_gtin(gtin))


@router.put("/catalog/products/{gtin}", response_model=ProductPublic)
def put_product(gtin: str, body: ProductBody, user: CurrentAdmin, state: StateDep) -> ProductPublic:
    record = service.ProductRecord(gtin=normalize_gtin(gtin), **body.model_dump())
    with state.db.unit_of_work() as session:
        service.upsert_products(session, [record], currency=state.settings.currency)
        product = _public(session, record.gtin)
    state.products.invalidate()
    return product


@router.post(
    "/catalog/import",
    response_model=ImportReply,
    openapi_extra={
        "requestBody": {"content": {"text/csv": {"schema": {"type": "string"}}}, "required": True}
    },
)
async def import_catalog(request: Request, user: CurrentAdmin, state: StateDep) -> ImportReply:
    """Upload a catalog CSV as the request body: every row valid, or nothing imported."""
    require_media_type(request, "text/csv")
    records = parse_catalog_csv(await allow_upload(request).body())

    def work(session: Any) -> service.UpsertCounts:
        return service.upsert_products(session, records, currency=state.settings.currency)

    counts = await state.db.run(work)
    state.products.invalidate()
    return ImportReply(**counts.__dict__)


class PromotionsReply(BaseModel):
    promotions: list[dict[str, Any]]


@router.get("/promotions", response_model=PromotionsReply)
def list_promotions(session: SessionDep, user: CurrentStaff) -> PromotionsReply:
    return PromotionsReply(promotions=[p.to_dict() for p in service.load_promotions(session)])


@router.put("/promotions/{promotion_id}", response_model=dict[str, Any])
def put_promotion(
    promotion_id: str,
    user: CurrentAdmin,
    state: StateDep,
    body: Annotated[dict[str, Any], Body()],
) -> dict[str, Any]:
    problem = client_json.problem_of(body)
    if problem:  # the framework parsed it; a lone surrogate could not be stored
        message = f"the body is not valid JSON: {problem}"
        raise InvalidInput(message, problems=[message])
    data = {**body, "id": promotion_id}
    promotion = Promotion.from_dict(data)
    with state.db.unit_of_work() as session:
        service.replace_promotions(session, [promotion])
    state.promotions.invalidate()
    return promotion.to_dict()


@router.delete("/promotions/{promotion_id}", status_code=204)
def delete_promotion(promotion_id: str, user: CurrentAdmin, state: StateDep) -> None:
    with state.db.unit_of_work() as session:
        service.delete_promotion(session, promotion_id)
    state.promotions.invalidate()


@router.post(
    "/promotions/import",
    response_model=dict[str, int],
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {"schema": {}},
                "text/csv": {"schema": {"type": "string"}},
            },
            "required": True,
        }
    },
)
async def import_promotions(
    request: Request, user: CurrentAdmin, state: StateDep
) -> dict[str, int]:
    """Upload promotions as JSON or CSV (by Content-Type): all valid, or none imported."""
    require_media_type(request, "json", "text/csv")
    suffix = ".csv" if "csv" in request.headers.get("content-type", "") else ".json"
    data = await allow_upload(request).body()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"upload{suffix}"
        path.write_bytes(data)
        promotions = load_promotions(path)

    def work(session: Any) -> int:
        return service.replace_promotions(session, promotions)

    count = await state.db.run(work)
    state.promotions.invalidate()
    return {"imported": count}
