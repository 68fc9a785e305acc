"""The exact part of the promotion engine: which units of one basket component form
which group offers (``multi_buy``, ``bundle_price``, ``mix_and_match``) so the shopper
gets the best total, with ties broken one fixed way.

A counting DP over the unit types by decreasing price finds the optimum; a walk in
canonical order then picks, among the optimal plans, the one the engine keeps. Should
that walk examine more than ``SEARCH_BUDGET`` member sets, or should the earlier
exhaustive engine provably have, any optimal plan from the DP is used instead. See
:mod:`store_server.pricing.promotions` for the semantics.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    from store_server.pricing.promotions import Promotion

__all__ = ["SEARCH_BUDGET", "Component", "Group", "components"]

SEARCH_BUDGET = 20_000
"""Steps of exact search per basket component before falling back to greedy."""

_SAME_GTIN_KINDS = frozenset({"multi_buy", "bundle_price"})

Group: TypeAlias = "tuple[Promotion, list[int]]"
"""A formed group: its promotion and its members as component type indexes (sorted)."""

_State = tuple[int, ...]
"""A DP state: the chunk position reached in each open pool slot."""

_Back = tuple[_State, tuple[int, ...], int]
"""How a DP state was reached: the previous state, units added per entry, spare units."""


class _BudgetExceeded(Exception):
    pass


def _bounded_multisets(caps: Sequence[int], size: int) -> list[int]:
    """Coefficients up to ``size`` of prod(1 + x + ... + x^cap): multisets within caps."""
    poly = [1] + [0] * size
    for cap in caps:
        if cap <= 0:
            continue
        new = [0] * (size + 1)
        running = 0
        for degree in range(size + 1):
            running += poly[degree]
            if degree - cap - 1 >= 0:
                running -= poly[degree - cap - 1]
            new[degree] = running
        poly = new
    return poly


def _multisets(
    candidates: Sequence[int], counts: list[int], size: int, start: int = 0
) -> Iterator[list[int]]:
    """Multisets of ``size`` type indexes drawn from ``candidates`` within ``counts``.

    Lexicographic order; ``counts`` has the yielded members taken out while they are
    yielded (the caller reads the remaining state from it).
    """
    if size == 0:
        yield []
        return
    for position in range(start, len(candidates)):
        index = candidates[position]
        if counts[index] == 0:
            continue
        counts[index] -= 1
        for rest in _multisets(candidates, counts, size - 1, position):
            yield [index, *rest]
        counts[index] += 1


_BOUND_ENUMERATION = 600
"""Member multisets looked at when bounding the exhaustive search's steps (cost cap)."""

_MAX_DP_STATES = 512
"""Above this many simultaneous pool positions the counting DP is not used (safety net)."""


class Component:
    """Unit types linked by group offers, solved together.

    ``prices``, ``gtins``, ``single`` and ``counts`` are per type, types in canonical
    order; ``groups`` lists (promotion, eligible type indexes) in promotion id order.
    """

    def __init__(
        self,
        prices: list[int],
        gtins: list[str],
        single: list[int],
        counts: list[int],
        groups: list[Group],
    ) -> None:
        self.prices, self.gtins, self.single, self.counts = prices, gtins, single, counts
        self.groups = groups
        n_types = len(prices)
        # (size, bundle price or None, free units) per group promotion
        self.params: list[tuple[int, int | None, int]] = []
        self.groups_of: list[list[int]] = [[] for _ in range(n_types)]
        pools: list[tuple[int, list[int]]] = []  # (group index, member types)
        for g, (promotion, eligible) in enumerate(groups):
            size = promotion.group_size
            assert size is not None
            if promotion.bundle_qty is not None:
                self.params.append((size, promotion.bundle_price_cents, 0))
            else:
                assert promotion.buy_qty is not None and promotion.pay_qty is not None
                self.params.append((size, None, promotion.buy_qty - promotion.pay_qty))
            for i in eligible:
                self.groups_of[i].append(g)
            if promotion.kind in _SAME_GTIN_KINDS:
                by_gtin: dict[str, list[int]] = defaultdict(list)
                for i in eligible:
                    by_gtin[gtins[i]].append(i)
                pools.extend((g, members) for members in by_gtin.values())
            else:
                pools.append((g, list(eligible)))
        self.pools = pools
        self.memo: dict[tuple[int, ...], int] = {}
        self._prepare_dp()

    # -- values ------------------------------------------------------------------------

    def gain(self, g: int, members: Sequence[int]) -> int:
        """Group discount minus the per-unit offers its members give up."""
        size, bundle, free = self.params[g]
        prices = [self.prices[i] for i in members]
        if bundle is not None:
            total = sum(prices)
            off = total - bundle if total > bundle else 0
        else:
            off = sum(sorted(prices)[:free])
        return off - sum(self.single[i] for i in members)

    def reference_pool(self, g: int, first: int) -> list[int]:
        """Types a group of promotion ``g`` opened by ``first`` may draw from (in order)."""
        promotion, eligible = self.groups[g]
        pool = [i for i in eligible if i >= first]
        if promotion.kind in _SAME_GTIN_KINDS:
            gtin = self.gtins[first]
            pool = [i for i in pool if self.gtins[i] == gtin]
        return pool

    # -- counting DP -------------------------------------------------------------------
    #
    # Within one pool (a promotion, or one GTIN of a same-GTIN promotion) the best way
    # to split a chosen set of units into groups is known: bundle groups are worth
    # sum(price - single) - bundle price whatever the split, and for N-for-M the units
    # sorted by price and cut into consecutive chunks maximise the free total (the r-th
    # most expensive free unit of any split has at least r + (n-k)*ceil(r/k) units at
    # least as expensive as it, which is exactly its rank in the chunking). So walking
    # the types by decreasing price, a DP only needs each pool's position inside its
    # current chunk, and the count of a type is spread over the pools in bulk: residues
    # modulo the group size, plus whole extra groups (a small knapsack).

    def _prepare_dp(self) -> None:
        prices, single = self.prices, self.single
        n_types = len(prices)
        self.order = sorted(range(n_types), key=lambda t: (-prices[t], t))
        position = {t: i for i, t in enumerate(self.order)}
        multi = [q for q, (_, members) in enumerate(self.pools) if len(members) > 1]
        slot_of = {q: s for s, q in enumerate(multi)}
        self.n_slots = len(multi)
        self.zero = (0,) * self.n_slots
        self.closing: list[list[int]] = [[] for _ in range(n_types)]
        spans: list[tuple[int, int, int]] = []
        for q in multi:
            places = [position[t] for t in self.pools[q][1]]
            self.closing[max(places)].append(slot_of[q])
            spans.append((min(places), max(places), self.params[self.pools[q][0]][0]))
        widest = 1
        for i in range(n_types):
            states = 1
            for low, high, size in spans:
                if low <= i <= high:
                    states *= size
            widest = max(widest, states)
        self.dp_ok = widest <= _MAX_DP_STATES
        # Per type: multi-pool entries (slot, size, gain table by start and residue) and
        # knapsack items (size, gain of one whole group, pool) for whole extra groups.
        self.entries: list[list[tuple[int, int, list[list[int]]]]] = [[] for _ in range(n_types)]
        self.entry_pools: list[list[int]] = [[] for _ in range(n_types)]
        items: list[list[tuple[int, int, int]]] = [[] for _ in range(n_types)]
        for q, (g, members) in enumerate(self.pools):
            size, bundle, free = self.params[g]
            for t in members:
                p, s = prices[t], single[t]
                # what one whole extra group of this type adds
                whole = size * (p - s) - bundle if bundle is not None else free * p - size * s
                if whole > 0:
                    items[t].append((size, whole, q))
                if q in slot_of:
                    table = [
                        [
                            self._partial(p, s, size, bundle, free, start, added)
                            for added in range(size)
                        ]
                        for start in range(size)
                    ]
                    self.entries[t].append((slot_of[q], size, table))
                    self.entry_pools[t].append(q)
        self.items = items
        # Best whole extra groups for each number of spare units: value and choice.
        self.knap: list[list[int]] = []
        self.knap_choice: list[list[int]] = []
        for t in range(n_types):
            values, choice = [0], [-1]
            for spare in range(1, self.counts[t] + 1):
                best, pick = values[spare - 1], -1
                for k, (size, whole, _) in enumerate(items[t]):
                    if size <= spare and values[spare - size] + whole > best:
                        best, pick = values[spare - size] + whole, k
                values.append(best)
                choice.append(pick)
            self.knap.append(values)
            self.knap_choice.append(choice)

    @staticmethod
    def _partial(
        p: int, s: int, size: int, bundle: int | None, free: int, start: int, added: int
    ) -> int:
        """Gain of ``added`` units at price ``p`` joining a pool at chunk position ``start``."""
        if bundle is not None:
            return added * (p - s) - bundle * ((start + added) // size)
        frees = sum(1 for j in range(start, start + added) if j % size >= size - free)
        return frees * p - added * s

    def _step(
        self, t: int, c: int, states: dict[tuple[int, ...], int], trace: bool
    ) -> tuple[dict[_State, int], dict[_State, _Back]]:
        """Spread ``c`` units of type ``t`` over the pools from every state."""
        entries = self.entries[t]
        knap = self.knap[t]
        back: dict[_State, _Back] = {}
        if not entries:
            add = knap[c]
            if trace:
                back = {state: (state, (), c) for state in states}
            if add:
                states = {state: value + add for state, value in states.items()}
            return states, back
        new: dict[tuple[int, ...], int] = {}
        if len(entries) == 1:
            slot, size, table = entries[0]
            for state, value in states.items():
                current = state[slot]
                row = table[current]
                for target in range(size):
                    added = (target - current) % size
                    if added > c:
                        continue
                    total = value + row[added] + knap[c - added]
                    key = (*state[:slot], target, *state[slot + 1 :])
                    if key not in new or total > new[key]:
                        new[key] = total
                        if trace:
                            back[key] = (state, (added,), c - added)
            return new, back
        ranges = [range(size) for _, size, _ in entries]
        for state, value in states.items():
            for targets in itertools.product(*ranges):
                key_list = list(state)
                total = value
                used = 0
                addeds = []
                for (slot, size, table), target in zip(entries, targets, strict=True):
                    added = (target - state[slot]) % size
                    used += added
                    addeds.append(added)
                    total += table[state[slot]][added]
                    key_list[slot] = target
                if used > c:
                    continue
                total += knap[c - used]
                key = tuple(key_list)
                if key not in new or total > new[key]:
                    new[key] = total
                    if trace:
                        back[key] = (state, tuple(addeds), c - used)
        return new, back

    def opt(self, counts: tuple[int, ...]) -> int:
        """Best total gain of group offers for these counts (exact)."""
        found = self.memo.get(counts)
        if found is not None:
            return found
        if not self.n_slots:
            value = sum(self.knap[t][c] for t, c in enumerate(counts))
        else:
            states: dict[tuple[int, ...], int] = {self.zero: 0}
            for i, t in enumerate(self.order):
                states, _ = self._step(t, counts[t], states, False)
                for slot in self.closing[i]:
                    states = {k: v for k, v in states.items() if k[slot] == 0}
            value = states[self.zero]
        self.memo[counts] = value
        return value

    def traceback(self) -> list[Group]:
        """An optimal set of groups straight from the DP (used when ties need no care)."""
        counts = self.counts
        states: dict[tuple[int, ...], int] = {self.zero: 0}
        backs = []
        for i, t in enumerate(self.order):
            states, back = self._step(t, counts[t], states, True)
            for slot in self.closing[i]:
                states = {k: v for k, v in states.items() if k[slot] == 0}
            backs.append(back)
        assigned: list[dict[int, int]] = [defaultdict(int) for _ in self.pools]
        state = self.zero
        for i in range(len(self.order) - 1, -1, -1):
            t = self.order[i]
            previous, addeds, spare = backs[i][state]
            for q, added in zip(self.entry_pools[t], addeds, strict=True):
                assigned[q][t] += added
            choice = self.knap_choice[t]
            while spare > 0:
                k = choice[spare]
                if k < 0:
                    spare -= 1
                    continue
                size, _, q = self.items[t][k]
                assigned[q][t] += size
                spare -= size
            state = previous
        chosen: list[Group] = []
        for q, (g, _) in enumerate(self.pools):
            size = self.params[g][0]
            units = [
                t
                for t in sorted(assigned[q], key=lambda t: (-self.prices[t], t))
                for _ in range(assigned[q][t])
            ]
            for start in range(0, len(units) - size + 1, size):
                members = sorted(units[start : start + size])
                if self.gain(g, members) > 0:
                    chosen.append((self.groups[g][0], members))
        return chosen

    # -- the canonical choice among optimal plans ------------------------------------

    def lexicographic(self) -> list[Group]:
        """The optimal plan the exhaustive search picks, found with the DP as an oracle.

        The search takes the first remaining unit (canonical order) and keeps the first
        option reaching the optimum: single, else promotions by id and member multisets
        in lexicographic order. Here each option is checked against the exact optimum
        instead of being explored; the leading singles of a type are found by bisection
        (the optimum is monotone in counts). Options examined are a subset of those the
        search counts, so ``SEARCH_BUDGET`` is exceeded here only if it was there.
        """
        state = list(self.counts)
        value = self.opt(tuple(state))
        examined = 0
        chosen: list[Group] = []
        first = 0
        while True:
            while first < len(state) and not state[first]:
                first += 1
            if first == len(state):
                return chosen
            count = state[first]
            state[first] = 0
            if self.opt(tuple(state)) == value:
                continue
            low, high = 0, count - 1  # opt(count - low units) == value, opt(0 units) < value
            while low < high:
                middle = (low + high + 1) // 2
                state[first] = count - middle
                if self.opt(tuple(state)) == value:
                    low = middle
                else:
                    high = middle - 1
            state[first] = count - low - 1
            needed = value - self.opt(tuple(state))  # what the first unit alone brings
            found: tuple[int, list[int], int, _State] | None = None
            for g in self.groups_of[first]:
                size = self.params[g][0]
                work = list(state)
                for rest in _multisets(self.reference_pool(g, first), work, size - 1):
                    examined += 1
                    if examined > SEARCH_BUDGET:
                        raise _BudgetExceeded
                    members = [first, *rest]
                    gain = self.gain(g, members)
                    if gain < needed:  # cannot reach the optimum (needed > 0)
                        continue
                    after = tuple(work)
                    if gain + self.opt(after) == value:
                        found = (g, members, gain, after)
                        break
                if found is not None:
                    break
            assert found is not None, "an optimal group must exist"
            g, members, gain, after = found
            state = list(after)
            value -= gain
            chosen.append((self.groups[g][0], members))

    def search_surely_exceeds(self) -> bool:
        """Whether the exhaustive search provably passes ``SEARCH_BUDGET`` steps.

        A lower bound on its steps: it visits every state of the all-singles chain from
        the full basket and, from each, every state one positive group further; each
        visited state costs one step per member multiset it enumerates. Counted with
        polynomials over the counts (one size class of groups, to keep states distinct;
        group-reduced states with capacities lowered conservatively).
        """
        budget = SEARCH_BUDGET
        counts = self.counts
        largest = max(size for size, _, _ in self.params)
        chain = 0
        level: dict[int, int] = defaultdict(int)
        enumerated = 0
        for first, count in enumerate(counts):
            if not count or not self.groups_of[first]:
                continue
            full: list[tuple[int, list[int]]] = []
            reduced: list[tuple[int, list[int]]] = []
            positive: dict[int, dict[tuple[int, ...], int]] = defaultdict(dict)
            for g in self.groups_of[first]:
                work = list(counts)
                work[first] -= 1
                size = self.params[g][0]
                pool = self.reference_pool(g, first)
                later = [counts[t] for t in pool if t != first]
                full.append((size - 1, _bounded_multisets(later, size - 1)))
                reduced.append(
                    (size - 1, _bounded_multisets([c - largest + 1 for c in later], size - 1))
                )
                if enumerated > _BOUND_ENUMERATION:
                    continue
                for rest in _multisets(pool, work, size - 1):
                    enumerated += 1
                    if enumerated > _BOUND_ENUMERATION:
                        break
                    extra = rest.count(first)
                    if extra == size - 1 or self.gain(g, [first, *rest]) <= 0:
                        continue
                    positive[size][tuple(rest)] = extra
            by_extra = {size: sorted(found.values()) for size, found in positive.items()}
            for remaining in range(count, 0, -1):
                chain += sum(
                    sum(poly[m - i] for i in range(min(remaining - 1, m) + 1)) for m, poly in full
                )
                capacity = max(0, remaining - 1 - largest)
                after = sum(
                    sum(poly[m - i] for i in range(min(capacity, m) + 1)) for m, poly in reduced
                )
                if after:
                    for size, extras in by_extra.items():
                        level[size] += after * sum(1 for e in extras if e + 1 < remaining)
                if chain + max(level.values(), default=0) > budget:
                    return True
        return False

    # -- safety nets -------------------------------------------------------------------

    def search(self) -> list[Group]:
        """Exhaustive memoised search over count vectors (for pool layouts the DP refuses)."""
        memo: dict[tuple[int, ...], tuple[int, tuple[int, list[int]] | None]] = {}
        steps = 0

        def best(counts: tuple[int, ...]) -> int:
            nonlocal steps
            if counts in memo:
                return memo[counts][0]
            first = next((i for i, c in enumerate(counts) if c), None)
            if first is None:
                return 0
            work = list(counts)
            work[first] -= 1
            best_gain = best(tuple(work))
            best_choice: tuple[int, list[int]] | None = None
            for g in self.groups_of[first]:
                size = self.params[g][0]
                for rest in _multisets(self.reference_pool(g, first), work, size - 1):
                    steps += 1
                    if steps > SEARCH_BUDGET:
                        raise _BudgetExceeded
                    members = [first, *rest]
                    gain = self.gain(g, members)
                    if gain <= 0:
                        continue
                    total = gain + best(tuple(work))
                    if total > best_gain:
                        best_gain, best_choice = total, (g, members)
            memo[counts] = (best_gain, best_choice)
            return best_gain

        state = tuple(self.counts)
        best(state)
        chosen: list[Group] = []
        while any(state):
            _, choice = memo[state]
            work = list(state)
            if choice is None:
                work[next(i for i, c in enumerate(state) if c)] -= 1
            else:
                chosen.append((self.groups[choice[0]][0], choice[1]))
                for i in choice[1]:
                    work[i] -= 1
            state = tuple(work)
        return chosen

    def greedy(self) -> list[Group]:
        """Last resort: repeatedly the most valuable single group (ties: promotion id)."""
        counts = list(self.counts)
        chosen: list[Group] = []
        while True:
            best: tuple[int, list[int], int] | None = None
            for g, (promotion, eligible) in enumerate(self.groups):
                size = self.params[g][0]
                pools: list[list[int]] = [eligible]
                if promotion.kind in _SAME_GTIN_KINDS:
                    by_gtin: dict[str, list[int]] = defaultdict(list)
                    for i in eligible:
                        by_gtin[self.gtins[i]].append(i)
                    pools = [by_gtin[key] for key in sorted(by_gtin)]
                for pool in pools:
                    units = [
                        i
                        for i in sorted(pool, key=lambda i: (-self.prices[i], i))
                        for _ in range(counts[i])
                    ]
                    if len(units) < size:
                        continue
                    members = sorted(units[:size])
                    gain = self.gain(g, members)
                    if gain > 0 and (best is None or gain > best[0]):
                        best = (gain, members, g)
            if best is None:
                return chosen
            _, members, g = best
            for i in members:
                counts[i] -= 1
            chosen.append((self.groups[g][0], members))

    def solve(self) -> list[Group]:
        """The search's exact choice when it would finish, else an optimum (never worse)."""
        if not self.dp_ok:
            try:
                return self.search()
            except _BudgetExceeded:
                return self.greedy()
        if sum(self.counts) >= 12 and self.search_surely_exceeds():
            return self.traceback()
        try:
            return self.lexicographic()
        except _BudgetExceeded:
            return self.traceback()


def components(n_types: int, gtins: list[str], groups: list[Group]) -> list[list[int]]:
    parent = list(range(n_types))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for promotion, eligible in groups:
        same_gtin = promotion.kind in _SAME_GTIN_KINDS
        for a, b in zip(eligible, eligible[1:], strict=False):
            if same_gtin and gtins[a] != gtins[b]:
                continue
            parent[root(a)] = root(b)
    members: dict[int, list[int]] = defaultdict(list)
    for i in range(n_types):
        members[root(i)].append(i)
    return list(members.values())
