"""The hypothesis runs behind every check: explore, then shrink a failure.

The first run explores `max_examples` cases without stopping, so a report can say
whether something is wrong in every case or only in some. If anything failed, a second
run raises on the first failure and lets hypothesis shrink it to the smallest failing
case (smallest batch first). Hypothesis draws only `(m, seed)`; the arrays come from the
seed. Nothing is written to the working directory (`database=None`, and hypothesis's own
caches go to a temporary directory), and no pytest is needed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from autodiff.strategies import private_storage


class Outcome(Protocol):
    case: Any

    @property
    def failed(self) -> bool: ...


class _CaseFailedError(Exception):
    """Raised inside the shrinking run to tell hypothesis that a case failed."""


def _settings(max_examples: int, seed: int | None, shrink: bool) -> settings:
    return settings(
        max_examples=max_examples,
        database=None,
        deadline=None,
        derandomize=seed is None,
        phases=(Phase.generate, Phase.shrink) if shrink else (Phase.generate,),
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
        verbosity=Verbosity.quiet,
        print_blob=False,
    )


def _run(body, max_batch: int, max_examples: int, seed: int | None, shrink: bool) -> None:
    @_settings(max_examples, seed, shrink)
    @given(st.integers(1, max_batch), st.integers(0, 2**32 - 1))
    def probe(m: int, case_seed: int) -> None:
        body(m, case_seed)

    if seed is not None:
        probe = hypothesis_seed(seed)(probe)
    with private_storage():
        probe()


class Search:
    """Evaluates cases (cached by (m, seed)) for one check and remembers every outcome."""

    def __init__(
        self,
        evaluate: Callable[[int, int], Any],
        max_batch: int,
        max_examples: int,
        seed: int | None,
    ) -> None:
        if int(max_examples) < 1:
            raise ValueError(f"max_examples must be at least 1, got {max_examples}")
        self._evaluate, self.max_batch = evaluate, max_batch
        self.max_examples, self.seed = int(max_examples), seed
        self.cache: dict[tuple[int, int], Any] = {}

    def evaluate(self, m: int, seed: int) -> Any:
        key = (m, seed)
        if key not in self.cache:
            self.cache[key] = self._evaluate(m, seed)
        return self.cache[key]

    def explore(self) -> list[Any]:
        """The outcomes of `max_examples` drawn cases, in the order drawn."""
        seen: dict[tuple[int, int], Any] = {}

        def body(m: int, case_seed: int) -> None:
            seen[(m, case_seed)] = self.evaluate(m, case_seed)

        _run(body, self.max_batch, self.max_examples, self.seed, shrink=False)
        return list(seen.values())

    def smallest(self, failing: Callable[[Any], bool], explored: list[Any]) -> Any:
        """The smallest outcome for which `failing` holds, as hypothesis shrinks it."""
        last: list[Any] = []

        def body(m: int, case_seed: int) -> None:
            outcome = self.evaluate(m, case_seed)
            if failing(outcome):
                last.append(outcome)
                raise _CaseFailedError

        try:
            _run(body, self.max_batch, self.max_examples, self.seed, shrink=True)
        except _CaseFailedError:
            pass
        pool = last or [o for o in explored if failing(o)]
        return min(pool, key=lambda o: (o.case.m, o.case.seed))
