"""What the model-based OPE estimate's refitted members make of each policy, beside the
simulator that drew their log: value, clicks per request, requests per session,
sessions and churn per user. The pipeline's OPE setting: 300 users drawn under
Plackett-Luce on popularity (seed 2024), 3 members refitted on resampled users; 1,000
users per policy and simulator (seed 1).

    .venv/bin/python benchmarks/ope_members.py runs/demo-init/simulator
    .venv/bin/python benchmarks/ope_members.py runs/demo-init/simulator --fit ridge=30

``--fit key=value``: refit the members with these fit settings changed (the simulator's
own recipe otherwise, as ``refit_ensemble``).

docs/ope.md ("The demo's OPE section") quotes its output.
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import numpy as np

from ltvrec.agents.baselines import make_baseline
from ltvrec.agents.evaluation import popularity_scores
from ltvrec.config import load_config
from ltvrec.interactions import ItemCatalog, load
from ltvrec.simulators import FitConfig, FittedSimulator, PlackettLucePolicy, evaluate, simulate_log
from ltvrec.simulators.ensemble import fit_ensemble
from ltvrec.simulators.fitted import fit_config_of, fitted_from_vectors


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("simulator")
    p.add_argument("--policies", nargs="+", default=["popularity-log", "greedy-model", "random"])
    p.add_argument("--fit", nargs="*", default=[], help="fit settings key=value")
    args = p.parse_args()
    sim = FittedSimulator.load(args.simulator)
    parsed = load_config(FitConfig, overrides=args.fit)
    changed = {item.partition("=")[0] for item in args.fit}
    cfg = replace(fit_config_of(sim), **{k: getattr(parsed, k) for k in changed})
    logging = PlackettLucePolicy(popularity_scores(sim), sim.slate_size, name="logging")
    log = simulate_log(sim, logging, 300, seed=2024)
    catalog = load(sim.meta["provenance"]["dataset"]).catalog
    catalog = ItemCatalog.from_frame(catalog.frame.assign(item_id=np.arange(sim.n_items)))
    # As refit_ensemble: the simulator's recipe, without a consumption-only clock.
    cfg = replace(cfg, organic=log.has_organic, no_click_leave=None)
    members = fit_ensemble(log, catalog, fitted_from_vectors(sim), cfg, 3, 0)
    print("| policy | simulator | value | clicks/request | requests/session | sessions | churn |")
    print("|---|---|---|---|---|---|---|")
    for name in args.policies:
        policy = make_baseline(name, model=sim, n_items=sim.n_items)
        for label, s in [("the one that drew the log", sim)] + [
            (f"member {i}", m) for i, m in enumerate(members)
        ]:
            v = evaluate(s, policy, 1000, seed=1)
            print(
                f"| {name} | {label} | {v.returns.mean():.1f} | "
                f"{v.clicks.sum() / v.requests.sum():.3f} | "
                f"{v.requests.sum() / v.sessions.sum():.1f} | {v.sessions.mean():.2f} | "
                f"{v.churned.mean():.2f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
