"""The handheld messages of permission marketing (an extension of PROTOCOL.md v1).

Backward compatible both ways: an old server answers ``consent`` and ``accept_offer``
with ``error bad_message`` (unknown type), and a new server pushes ``offer`` messages
only to handhelds whose ``hello`` listed ``"offers"`` in ``features`` — a handheld that
never heard of offers never receives one.

Client → server:

* ``consent`` {``id``, ``opt_in`` (bool), ``wording_version`` (1-32 chars)} →
  ``consent`` {``id``, ``opt_in``, ``wording_version``, ``recorded_at``}; applies to the
  shopper of the device's current basket (``no_basket`` without one).
* ``accept_offer`` {``id``, ``offer_id``} → ``basket`` {``id``, ``basket``} with the
  offer's promotion priced in; ``bad_message`` for an offer that is not this basket's,
  or once the shopper has opted out.

Server → client (after an ``ack``, to handhelds with the feature):

* ``offer`` {``offer_id``, ``basket_id``, ``label``, ``why``, ``promotion``}.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from store_server.shared.errors import BadMessage

FEATURE = "offers"
OFFER_REQUEST_TYPES: tuple[str, ...] = ("consent", "accept_offer")
MAX_WORDING_VERSION = 32
MAX_OFFER_ID = 36


def hello_features(hello: Mapping[str, Any]) -> frozenset[str]:
    """The optional ``features`` list of a ``hello`` (anything malformed means none)."""
    raw = hello.get("features")
    if not isinstance(raw, list):
        return frozenset()
    return frozenset(f for f in raw[:32] if isinstance(f, str) and len(f) <= 32)


def parse_offer_fields(kind: str, data: Mapping[str, Any]) -> dict[str, Any]:
    if kind == "consent":
        opt_in = data.get("opt_in")
        if not isinstance(opt_in, bool):
            raise BadMessage("'opt_in' must be true or false")
        version = data.get("wording_version")
        if not isinstance(version, str) or not 0 < len(version) <= MAX_WORDING_VERSION:
            raise BadMessage(
                f"'wording_version' must name the wording shown (1-{MAX_WORDING_VERSION} "
                "characters)"
            )
        return {"opt_in": opt_in, "wording_version": version}
    offer_id = data.get("offer_id")
    if not isinstance(offer_id, str) or not 0 < len(offer_id) <= MAX_OFFER_ID:
        raise BadMessage("'offer_id' must be the id of an offer this handheld received")
    return {"offer_id": offer_id}
