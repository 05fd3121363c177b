"""`evalsuite search`: find LongRoPE factors for a model, LongRoPE2-style, by needle-driven perplexity.

Why through the runner: every candidate is an ordinary RoPE setting (`longrope:long=[...]`, its
label carries a hash of the arrays), evaluated by `evalsuite.run.runner.run` into the search's run
directory, so each evaluation is a stored record like any other, a killed search resumes for free
(the store already holds what was computed; the evolution state follows from --seed and those
fitness values, so the resumed search asks for the same candidates), and the fitness is exactly
what `evalsuite run --suite perplexity:needle --rope longrope:file=<factors.json>` gives.
The documents and needles are the same for every candidate (--data-seed), so candidates compare
like with like; evaluate the result on other seeds (benchmarks/rope_search.py does).

Writes into --out: records.jsonl (every evaluation), search.json (settings, plan, seeds' fitness,
critical dimensions, trace, best), search_trace.csv (best fitness per generation), factors.json
(`--rope longrope:file=` reads it) and longrope2_config.json (LongRoPE2's checkpoint config form).
"""
from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from evalsuite.rope import MAX_FACTOR, BaseRope, RopeSpec
from evalsuite.run.rundir import default_dir
from evalsuite.search.evolution import Evolution, Factors, Outcome, Plan
from evalsuite.search.factors import Bounds, rcd, theoretical_critical_dim
from evalsuite.types import EvalError

DEFAULT_BUDGET = 160        # evaluations; about 17 min on the demo model at 4k on 2 CPU cores (see README)
SEARCH_JSON, TRACE_CSV, FACTORS_JSON, CONFIG_JSON = ("search.json", "search_trace.csv", "factors.json",
                                                     "longrope2_config.json")


def candidate_spec(long: Factors, factor: float, original: int) -> RopeSpec:
    """The candidate as a RoPE setting, parsed from text exactly as a factors file would be, so its
    label (and so its stored records) equals the one `--rope longrope:file=factors.json` gives."""
    short = [1.0] * len(long)
    return RopeSpec.parse(f"longrope:long={json.dumps(list(long))},short={json.dumps(short)},"
                          f"factor={factor:g},original={original}")


def factors_file(long: Factors, factor: float, original: int, **extra: Any) -> dict[str, Any]:
    return {"rope_type": "longrope", "factor": float(factor), "original_max_position_embeddings": original,
            "short_factor": [1.0] * len(long), "long_factor": list(long), **extra}


def longrope2_config(long: Factors, factor: float, original: int) -> dict[str, Any]:
    """LongRoPE2's released checkpoint form (config.json `rope_scaling`)."""
    return {"max_position_embeddings": round(factor * original),
            "original_max_position_embeddings": original,
            "rope_scaling": {"type": "longrope", "long_factor": list(long), "short_factor": [1.0] * len(long),
                             "factor": float(factor), "original_max_position_embeddings": original}}


@dataclass(frozen=True)
class Fitness:
    """Needle-driven perplexity at the target length through the runner (one run() per batch of
    candidates: each candidate is one RoPE setting, one engine load)."""

    model: str
    backend: str
    target: int
    factor: float
    original: int
    out: Path
    samples: int = 2
    depths: int = 4
    data_seed: int = 0
    dtype: str = "auto"

    def suite(self) -> Any:
        from evalsuite.suite import SuiteConfig
        from evalsuite.tasks.perplexity import PerplexitySuite
        return PerplexitySuite(SuiteConfig(samples=self.samples, seed=self.data_seed, subtasks=("needle",)),
                               PerplexitySuite.Options(depths=self.depths))

    def __call__(self, cands: list[Factors]) -> list[float]:
        from evalsuite.config.run_config import RunConfig
        from evalsuite.run.runner import run
        from evalsuite.tasks.perplexity import PerplexitySuite
        specs = {c: candidate_spec(c, self.factor, self.original) for c in cands}
        cfg = RunConfig(suites=(self.suite(),), lengths=(self.target,), ropes=tuple(dict.fromkeys(specs.values())),
                        out=self.out, model=self.model, backend=self.backend, dtype=self.dtype, report=False,
                        progress=False, quiet=True, beyond_capacity="run")
        records = run(cfg)
        by_rope: dict[str, list] = {}
        for r in records:
            if (r.task, r.length, r.seed, r.backend) == ("needle", self.target, self.data_seed, self.backend):
                by_rope.setdefault(r.rope, []).append(r)
        return [PerplexitySuite.aggregate_records(by_rope.get(specs[c].label, [])) for c in cands]


def method_factors(method: str, base: BaseRope, s: float, original: int) -> np.ndarray:
    """A formula method's per-pair factors at scale s, from its RoPE class (RopeSpec.factors)."""
    factors = RopeSpec.parse(f"{method}:factor={s!r},original={original}").factors(base)
    assert factors is not None                      # pi, ntk and yarn are one array each
    return factors


def seed_factors(base: BaseRope, s: float, cut: int, original: int) -> list[tuple[str, np.ndarray]]:
    """The initial population's sources: PI, NTK, YaRN as they are, and NTK/YaRN with the
    critical-dimension correction at `cut` (LongRoPE2's NTK-rcd / YaRN-rcd)."""
    pi, ntk, yarn = (method_factors(m, base, s, original) for m in ("pi", "ntk", "yarn"))
    return [("pi", pi), ("ntk", ntk), ("yarn", yarn),
            ("ntk-rcd", rcd(ntk, cut, s)), ("yarn-rcd", rcd(yarn, cut, s))]


def find_rcd(fit: Fitness, base: BaseRope, s: float, method: str) -> tuple[int, list[dict[str, float]]]:
    """Sweep the cut point: the `method`-rcd factors at every cut 0..d/2, evaluated together;
    the real critical dimension is the cut with the lowest needle perplexity (ties: the lower cut)."""
    source = method_factors(method, base, s, fit.original)
    cands = [tuple(round(float(x), 6) for x in rcd(source, c, s)) for c in range(base.dim // 2 + 1)]
    values = fit(cands)
    sweep = [{"cut": c, "fitness": v} for c, v in enumerate(values)]
    best = min(range(len(values)), key=lambda c: (values[c] if math.isfinite(values[c]) else math.inf, c))
    return best, sweep


def _settings(args: argparse.Namespace, fit: Fitness) -> dict[str, Any]:
    """What fixes a search's candidates: a resumed search must match them."""
    return {"model": fit.model, "backend": fit.backend, "factor": fit.factor, "target": fit.target,
            "original": fit.original, "seed": args.seed, "data_seed": fit.data_seed, "samples": fit.samples,
            "depths": fit.depths, "find_rcd": bool(args.find_rcd), "rcd_base": args.rcd_base}


def _load_state(out: Path, settings: dict[str, Any]) -> dict[str, Any] | None:
    path = out / SEARCH_JSON
    if not path.exists():
        return None
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise EvalError(f"{path} is damaged ({e}): move it aside or use another --out") from None
    if state.get("settings") != settings:
        diff = [k for k in settings if state.get("settings", {}).get(k) != settings[k]]
        raise EvalError(f"{out} holds another search (it differs in {', '.join(diff)}): use another --out")
    return state


def _write_outputs(out: Path, state: dict[str, Any], outcome: Outcome, fit: Fitness) -> None:
    from evalsuite.run.store import write_atomic
    state["evaluations"] = outcome.evaluations
    state["seeds"] = outcome.seeds
    state["trace"] = outcome.trace
    if outcome.best:
        label = candidate_spec(outcome.best, fit.factor, fit.original).label
        state["best"] = {"fitness": outcome.best_fitness, "label": label, "long_factor": list(outcome.best)}
        write_atomic(out / FACTORS_JSON, json.dumps(factors_file(
            outcome.best, fit.factor, fit.original, needle_perplexity=outcome.best_fitness,
            searched_at=fit.target, critical_dim=state["cut"]), indent=1))
        write_atomic(out / CONFIG_JSON, json.dumps(longrope2_config(outcome.best, fit.factor, fit.original), indent=1))
    write_atomic(out / SEARCH_JSON, json.dumps(state, indent=1, default=float))
    rows = ["generation,evaluations,best_generation,best_so_far"]
    rows += [f"{t['generation']},{t['evaluations']},{t['best_generation']:.6g},{t['best_so_far']:.6g}"
             for t in outcome.trace]
    write_atomic(out / TRACE_CSV, "\n".join(rows) + "\n")


def search(args: argparse.Namespace, log: Any = print) -> dict[str, Any]:
    """Run (or resume) one search; returns its search.json content."""
    from evalsuite.config.lengths import parse_length
    from evalsuite.models.resolve import load_model_config, resolve_model
    model = resolve_model(args.model)
    base = BaseRope.from_config(load_model_config(model))
    s = float(args.factor)
    if not 1 < s <= MAX_FACTOR:
        raise EvalError(f"--factor {args.factor:g} must be above 1 (the context is extended) and at most "
                        f"{MAX_FACTOR:g}")
    target = parse_length(args.target_length) if args.target_length else round(s * base.original)
    name = Path(model).name
    out = Path(args.out) if args.out else default_dir("search", name, f"{s:g}x", str(target), args.backend,
                                                      f"s{args.seed}")
    fit = Fitness(model, args.backend, target, s, base.original, out, args.samples, args.depths, args.data_seed,
                  args.dtype)
    settings = _settings(args, fit)
    state = _load_state(out, settings)
    plan = Plan(**state["plan"]) if state else (
        Plan.for_budget(args.budget) if not args.population else
        Plan(args.population, args.population // 2, args.population // 4, args.population // 4))
    tcd = theoretical_critical_dim(base)
    state = {"settings": settings, "plan": asdict(plan), "budget": args.budget, "theoretical_cd": tcd,
             "cut": tcd, **({k: state[k] for k in ("real_cd", "rcd_sweep") if k in state} if state else {})}
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    if args.find_rcd:
        real, sweep = find_rcd(fit, base, s, args.rcd_base)
        state.update(real_cd=real, rcd_sweep=sweep, cut=real)
        log(f"critical dimension: theoretical {tcd}, real {real} ({args.rcd_base}-rcd needle perplexity "
            f"{sweep[real]['fitness']:.4g} at cut {real}, {sweep[tcd]['fitness']:.4g} at cut {tcd})")
    bounds = Bounds.make(base, s, state["cut"])
    evo = Evolution(bounds, plan, args.seed)

    def on_generation(o: Outcome) -> None:
        t = o.trace[-1]
        log(f"generation {t['generation']}: {o.evaluations} evaluations, best {t['best_so_far']:.4g} "
            f"({time.perf_counter() - t0:.0f}s)")
        _write_outputs(out, state, o, fit)

    outcome = evo.run(fit, seed_factors(base, s, state["cut"], base.original), args.budget, on_generation)
    _write_outputs(out, state, outcome, fit)
    seeds = ", ".join(f"{k} {v:.4g}" for k, v in outcome.seeds.items())
    log(f"seeds: {seeds}")
    log(f"best needle perplexity {outcome.best_fitness:.4g} after {outcome.evaluations} evaluations; "
        f"wrote {out / FACTORS_JSON} (--rope longrope:file={out / FACTORS_JSON})")
    return state
