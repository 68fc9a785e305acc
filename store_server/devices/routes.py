"""Device enrolment over REST (admin role); the CLI does the same."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from store_server.deps import ERROR_RESPONSES, CurrentAdmin, StateDep
from store_server.devices import service
from store_server.devices.models import Device
from store_server.shared.errors import NotFound

router = APIRouter(prefix="/api/devices", tags=["devices"], responses=ERROR_RESPONSES)


class EnrollBody(BaseModel):
    device_ids: list[str] = Field(min_length=1, max_length=1000)
    store_id: str | None = Field(default=None, max_length=64)
    staff_mode: bool = False


class EnrolledDevice(BaseModel):
    device_id: str
    token: str


@router.post("", response_model=list[EnrolledDevice])
def enroll(body: EnrollBody, user: CurrentAdmin, state: StateDep) -> list[EnrolledDevice]:
    with state.db.unit_of_work() as session:
        issued = service.enroll(
            session,
            body.device_ids,
            store_id=body.store_id or state.settings.store_id,
            staff_mode=body.staff_mode,
        )
    return [EnrolledDevice(device_id=d, token=t) for d, t in issued]


@router.delete("/{device_id}", status_code=204)
def revoke(device_id: str, user: CurrentAdmin, state: StateDep) -> None:
    with state.db.unit_of_work() as session:
        if session.get(Device, device_id) is None:
            raise NotFound(f"no device {device_id!r}")
        service.revoke(session, device_id)
