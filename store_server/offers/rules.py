"""Which personal offer, if any, suits a basket now. Pure: plain values in, a choice out.

Offers are configured as templates (``CADDIE_OFFERS_TEMPLATES``, JSON), each carrying
the promotion it grants (``store_server.pricing.promotions.Promotion.from_dict`` form,
without ``id``: every grant gets its own):

* ``complement`` — ``when_categories`` lists categories that call for the promoted
  product (coffee → biscuits). Relevant when the basket holds one of them (strength 2)
  or, failing that, the shopper's past paid baskets do (strength 1); never when the
  basket already holds the promoted product (no money off what they were buying anyway).
* ``one_away`` — a group promotion (``multi_buy``, ``bundle_price``, ``mix_and_match``)
  the basket is exactly one unit short of completing (strength 3: the next scan pays).

The strongest relevant template not yet offered on this trip wins; ties go to the
template listed first, so the choice is deterministic.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from store_server.pricing.promotions import Promotion
from store_server.shared.errors import InvalidInput

TemplateKind = Literal["complement", "one_away"]
_GROUP_KINDS = frozenset({"multi_buy", "bundle_price", "mix_and_match"})
_SAME_GTIN_KINDS = frozenset({"multi_buy", "bundle_price"})


@dataclass(frozen=True)
class BasketUnit:
    """A basket line as the offer rules see it (weighed lines are not group units)."""

    gtin: str
    category: str
    qty: int
    weighed: bool = False


@dataclass(frozen=True)
class OfferTemplate:
    id: str
    kind: TemplateKind
    label: str
    promotion: Mapping[str, object]
    when_categories: frozenset[str] = frozenset()

    @classmethod
    def from_dict(cls, raw: Mapping[str, object]) -> OfferTemplate:
        problems: list[str] = []
        tid, kind, label = raw.get("id"), raw.get("kind"), raw.get("label")
        if not isinstance(tid, str) or not tid.strip() or len(tid) > 40:
            problems.append("id must be 1-40 characters")
        if kind not in ("complement", "one_away"):
            problems.append(f"kind must be complement or one_away, got {kind!r}")
        if not isinstance(label, str) or not label.strip():
            problems.append("label is missing")
        when = raw.get("when_categories", [])
        if not isinstance(when, list) or not all(isinstance(c, str) for c in when):
            problems.append("when_categories must be a list of categories")
            when = []
        if kind == "complement" and not when:
            problems.append("a complement offer needs when_categories")
        promo = raw.get("promotion")
        if not isinstance(promo, Mapping):
            problems.append("promotion must be an object")
        else:
            try:
                parsed = Promotion.from_dict({**promo, "id": f"offer:{tid}", "label": label})
            except InvalidInput as exc:
                found = exc.details.get("problems")
                messages = [str(p) for p in found] if isinstance(found, list) else [exc.message]
                problems.extend(f"promotion: {m}" for m in messages)
            else:
                if kind == "one_away" and parsed.kind not in _GROUP_KINDS:
                    problems.append(
                        "a one_away offer needs a multi_buy, bundle_price or "
                        "mix_and_match promotion"
                    )
        if problems:
            raise InvalidInput(
                f"bad offer template {tid!r}: " + "; ".join(problems), problems=problems
            )
        assert isinstance(promo, Mapping)
        return cls(
            id=str(tid),
            kind=kind,  # type: ignore[arg-type]
            label=str(label),
            promotion=dict(promo),
            when_categories=frozenset(when),
        )

    def promotion_for(self, grant_id: str) -> Promotion:
        """The promotion a grant of this template applies (its id names the grant)."""
        return Promotion.from_dict(
            {**self.promotion, "id": f"offer:{grant_id}", "label": self.label}
        )


@dataclass(frozen=True)
class Choice:
    template: OfferTemplate
    strength: int
    reason: str


def _covered(promotion: Promotion, units: Iterable[BasketUnit]) -> list[BasketUnit]:
    return [u for u in units if promotion.applies_to(u.gtin, u.category)]


def relevance(
    template: OfferTemplate, units: Sequence[BasketUnit], history: frozenset[str]
) -> Choice | None:
    """How relevant one template is to this basket and history, or None."""
    promotion = template.promotion_for("probe")
    covered = _covered(promotion, units)
    if template.kind == "complement":
        if covered:
            return None
        in_basket = sorted(template.when_categories & {u.category for u in units})
        if in_basket:
            return Choice(template, 2, f"basket has {in_basket[0]}")
        in_history = sorted(template.when_categories & history)
        if in_history:
            return Choice(template, 1, f"usually buys {in_history[0]}")
        return None
    size = promotion.group_size
    assert size is not None
    counts: dict[str, int] = defaultdict(int)
    for unit in covered:
        if unit.weighed:
            continue
        key = unit.gtin if promotion.kind in _SAME_GTIN_KINDS else "*"
        counts[key] += unit.qty
    for key, count in sorted(counts.items()):
        if count % size == size - 1:
            what = "item" if key == "*" else key
            return Choice(template, 3, f"one {what} short of {size}")
    return None


def choose_offer(
    templates: Sequence[OfferTemplate],
    units: Sequence[BasketUnit],
    *,
    history: frozenset[str],
    offered: frozenset[str],
) -> Choice | None:
    """The strongest relevant template not offered yet on this trip (ties: listed first)."""
    best: Choice | None = None
    for template in templates:
        if template.id in offered:
            continue
        choice = relevance(template, units, history)
        if choice is not None and (best is None or choice.strength > best.strength):
            best = choice
    return best
