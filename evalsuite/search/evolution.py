"""The evolutionary search over per-pair long factors (microsoft/LongRoPE evolution/search.py).

Why a separate module: the algorithm is pure (numpy, no model), so its constraints, its
reproducibility and its resume behaviour are tested without an engine. As in LongRoPE's
`GeneticAlgorithm` + `DimMonoGeneticAlgorithm`: the best `parents` of the population survive,
`mutations` children re-sample some pairs on a `step` grid between their neighbours (so the curve
stays non-decreasing), `crossovers` children take each pair from one of two parents; a child
already evaluated is never proposed again. Differences, on purpose: the initial population is
built from several formula methods (not one init file), the search space is LongRoPE2's
(`evalsuite.search.factors.Bounds`), and the whole state follows from the seed and the fitness values, so
a resumed search (fitness read back from the store) proposes the same candidates.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import numpy as np

from evalsuite.search.factors import Bounds

Factors = tuple[float, ...]
Evaluate = Callable[[list[Factors]], list[float]]
MUTATE_P = 0.3              # chance that a mutation re-samples a pair (LongRoPE: 0.3)
CROSS_P = 0.5               # chance that a crossover child takes a pair from the second parent
TRIES = 50                  # attempts at an unseen, valid child before falling back


def key(f: Iterable[Any]) -> Factors:
    return tuple(round(float(x), 6) for x in f)


@dataclass(frozen=True)
class Plan:
    """Population settings: LongRoPE's defaults (64 / 32 parents / 16 + 16 / step 0.01, 40
    iterations = 64 + 39 * 32 = 1312 evaluations) scaled down to a budget, keeping the ratio of
    iterations to population size."""

    population: int = 64
    parents: int = 32
    mutations: int = 16
    crossovers: int = 16
    step: float = 0.01

    @classmethod
    def for_budget(cls, budget: int) -> Plan:
        # budget = P + (I - 1) * P/2 with I = 0.625 P  ->  0.3125 P^2 + 0.5 P = budget
        p = (-0.5 + math.sqrt(0.25 + 1.25 * budget)) / 0.625
        p = int(min(64, max(8, 4 * round(p / 4))))
        return cls(p, p // 2, p // 4, p // 4)


@dataclass
class Outcome:
    best: Factors
    best_fitness: float
    evaluations: int
    trace: list[dict[str, float | int | str]] = field(default_factory=list)
    fitness: dict[Factors, float] = field(default_factory=dict)
    seeds: dict[str, float] = field(default_factory=dict)


class Evolution:
    def __init__(self, bounds: Bounds, plan: Plan, seed: int):
        self.bounds, self.plan = bounds, plan
        self.rng = np.random.default_rng(seed)
        self.lo, self.hi = np.asarray(bounds.lo), np.asarray(bounds.hi)
        self.seen: set[Factors] = set()

    def _grid(self, a: float, b: float) -> np.ndarray:
        step = self.plan.step
        return np.arange(math.ceil(a / step - 1e-9), math.floor(b / step + 1e-9) + 1) * step

    def mutate(self, parent: Factors) -> Factors | None:
        """Re-sample each pair with probability MUTATE_P on the step grid between its (current)
        neighbours and its bounds: the child is non-decreasing and inside the bounds."""
        n = len(parent)
        for _ in range(TRIES):
            f = np.asarray(parent, dtype=np.float64).copy()
            for i in range(n):
                if self.rng.random() >= MUTATE_P:
                    continue
                a = max(self.lo[i], f[i - 1] if i else -math.inf)
                b = min(self.hi[i], f[i + 1] if i + 1 < n else math.inf)
                grid = self._grid(a, b)
                if len(grid):
                    f[i] = grid[self.rng.integers(len(grid))]
            child = key(f)
            if child not in self.seen and self.bounds.holds(np.asarray(child)):
                self.seen.add(child)
                return child
        return None

    def crossover(self, p1: Factors, p2: Factors) -> Factors | None:
        if np.allclose(p1, p2):
            return None
        a, b = np.asarray(p1), np.asarray(p2)
        for _ in range(TRIES):
            take = self.rng.random(len(a)) < CROSS_P
            child = key(np.where(take, b, a))
            if child not in self.seen and self.bounds.holds(np.asarray(child)):
                self.seen.add(child)
                return child
        return None

    def run(self, evaluate: Evaluate, seeds: list[tuple[str, Any]], budget: int,
            on_generation: Callable[[Outcome], None] | None = None) -> Outcome:
        """Evaluate the seeds as given (baselines), start from their projections onto the bounds
        plus mutations of them, then evolve until `budget` distinct evaluations."""
        out = Outcome((), math.inf, 0)

        def score(cands: list[Factors]) -> list[float]:
            todo = [c for c in dict.fromkeys(cands) if c not in out.fitness][: max(0, budget - out.evaluations)]
            if todo:
                for c, v in zip(todo, evaluate(todo)):
                    out.fitness[c] = v if math.isfinite(v) else math.inf
                out.evaluations += len(todo)
            return [out.fitness.get(c, math.inf) for c in cands]

        raw = [(name, key(f)) for name, f in seeds]
        self.seen.update(f for _, f in raw)
        for (name, _), v in zip(raw, score([f for _, f in raw])):
            out.seeds[name] = v
        start = list(dict.fromkeys(key(self.bounds.project(np.asarray(f))) for _, f in raw))
        self.seen.update(start)
        population = list(start)
        while len(population) < self.plan.population:
            child = self.mutate(start[int(self.rng.integers(len(start)))])
            if child is None:
                break
            population.append(child)
        score(population)
        generation = 0
        self._log(out, generation, population, on_generation)
        while out.evaluations < budget:
            generation += 1
            parents = sorted((c for c in population if c in out.fitness), key=lambda c: out.fitness[c])
            parents = parents[: self.plan.parents]
            children: list[Factors] = []
            for _ in range(self.plan.mutations):
                child = self.mutate(parents[int(self.rng.integers(len(parents)))])
                if child is not None:
                    children.append(child)
            for _ in range(self.plan.crossovers):
                i, j = sorted(self.rng.choice(len(parents), 2, replace=False)) if len(parents) > 1 else (0, 0)
                child = self.crossover(parents[i], parents[j]) or self.mutate(parents[i])
                if child is not None:
                    children.append(child)
            if not children:
                break                       # the space around the parents is exhausted
            score(children)
            population = parents + [c for c in children if c in out.fitness]
            self._log(out, generation, population, on_generation)
        return out

    def _log(self, out: Outcome, generation: int, population: list[Factors],
             on_generation: Callable[[Outcome], None] | None) -> None:
        """Best of the constrained candidates (the raw seeds are baselines, not results)."""
        scored = [c for c in population if c in out.fitness]
        best_gen = min(scored, key=lambda c: out.fitness[c]) if scored else None
        if best_gen is not None and out.fitness[best_gen] < out.best_fitness:
            out.best, out.best_fitness = best_gen, out.fitness[best_gen]
        out.trace.append({"generation": generation, "evaluations": out.evaluations,
                          "best_generation": out.fitness[best_gen] if best_gen else math.inf,
                          "best_so_far": out.best_fitness})
        if on_generation is not None:
            on_generation(out)
