"""How the database search counts its matches (`_Totals`, given a builder of the query to count), with a
stand-in query that records each count."""

from __future__ import annotations

from bazaar.infra.search.database import _Totals


class CountedQuery:
    """Answers like a peewee query of `matches` rows; `during_count` runs once inside the next count."""

    def __init__(self, matches: int):
        self.matches = matches
        self.counts = 0
        self.during_count = None
        self._limit = None

    def select(self, *_):
        return self

    def order_by(self):
        return self

    def sql(self):
        return "SELECT 1 FROM products WHERE search_vector @@ %s", ["earbuds"]

    def limit(self, limit: int):
        self._limit = limit
        return self

    def count(self) -> int:
        self.counts += 1
        if self.during_count is not None:
            hook, self.during_count = self.during_count, None
            hook()
        limit, self._limit = self._limit, None
        return self.matches if limit is None else min(self.matches, limit)


def test_small_totals_are_counted_exactly_every_time():
    totals, query = _Totals(exact_max=10, ttl_s=60), CountedQuery(matches=4)
    assert totals.count(lambda: query) == 4
    query.matches = 5
    assert totals.count(lambda: query) == 5


def test_large_totals_are_reused_until_they_expire():
    totals, query = _Totals(exact_max=10, ttl_s=60), CountedQuery(matches=50)
    assert totals.count(lambda: query) == 50
    query.matches = 60
    assert totals.count(lambda: query) == 50
    assert query.counts == 2  # the capped count that found it large, then the full count; nothing after


def test_an_expired_large_total_is_recounted_by_one_caller_while_the_others_reuse_it():
    totals, query = _Totals(exact_max=10, ttl_s=0), CountedQuery(matches=50)
    assert totals.count(lambda: query) == 50
    query.matches = 60
    answered_meanwhile = []
    query.during_count = lambda: answered_meanwhile.append(totals.count(lambda: query))
    assert totals.count(lambda: query) == 60
    assert answered_meanwhile == [50]
    assert query.counts == 3


def test_a_large_total_that_shrank_is_counted_exactly_again():
    totals, query = _Totals(exact_max=10, ttl_s=0), CountedQuery(matches=50)
    totals.count(lambda: query)
    query.matches = 3
    assert totals.count(lambda: query) == 3
    query.matches = 4
    assert totals.count(lambda: query) == 4
