"""One-to-one pairing of spans, shared by scoring (evaluate) and agreement."""

from __future__ import annotations

from collections.abc import Sequence


def maximum_matching(adjacent: Sequence[Sequence[int]]) -> int:
    """Size of a maximum bipartite matching (Kuhn's augmenting paths).

    ``adjacent[i]`` lists the right-hand items that left-hand item ``i`` may be paired with.
    """
    owner: dict[int, int] = {}

    def augment(i: int, seen: set[int]) -> bool:
        for j in adjacent[i]:
            if j in seen:
                continue
            seen.add(j)
            if j not in owner or augment(owner[j], seen):
                owner[j] = i
                return True
        return False

    return sum(augment(i, set()) for i in range(len(adjacent)))
