"""The return model's baseline hazard: a piecewise-constant hazard over quantile bins of
the excess gap (``FitConfig.return_bins=8``) against one exponential rate (the default,
``return_bins=1``).

1. Held-out log-likelihood per session end of the return model, fitted on 70% of the
   users and scored on the other 30%, paired over random user splits.
2. The fidelity report (time split, replay policy) per bin count, with and without the
   inputs clipped to the training support (``FitConfig.clip_inputs``): the return-gap
   Kaplan-Meier distance, median gaps, session-length KS, and the clipped share.

    .venv/bin/python benchmarks/return_model.py --data ml-100k [--splits 5]
    .venv/bin/python benchmarks/return_model.py --data known-world
    .venv/bin/python benchmarks/return_model.py --data ml-100k --ignore sessions interest_mass

``--ignore BLOCK ...`` adds a third arm: one rate, the return model not reading those
state blocks (``FitConfig.return_ignore``), compared with the one-rate model the same way.
"""

from __future__ import annotations

import argparse
from dataclasses import replace

from _common import log_and_vectors, paired_line, user_split

from ltvrec.encoders.state import UserStateEncoder
from ltvrec.simulators.components import fit_leave_and_return
from ltvrec.simulators.components import return_log_likelihood as return_ll
from ltvrec.simulators.fidelity import fidelity_report
from ltvrec.simulators.fitted import FitConfig
from ltvrec.simulators.replay import replay_log


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="ml-100k", help="a fetched data set, or known-world")
    p.add_argument("--splits", type=int, default=5, help="0: the fidelity part only")
    p.add_argument("--users", type=int, default=3000, help="known world: users logged")
    p.add_argument("--bins", type=int, default=8)
    p.add_argument("--ignore", nargs="+", default=[], help="state blocks (a third arm)")
    args = p.parse_args()
    log, catalog, emb = log_and_vectors(args.data, args.users)
    enc = UserStateEncoder(emb)
    arms = {"piecewise": FitConfig(return_bins=args.bins), "exponential": FitConfig(return_bins=1)}
    if args.ignore:
        arms["ignoring"] = FitConfig(return_bins=1, return_ignore=tuple(args.ignore))
    print(f"{args.data}: {args.bins} bins vs one rate; {args.splits} user splits, 30% held out")
    lls: dict[str, list[float]] = {name: [] for name in arms}
    for split in range(args.splits):
        train, test = user_split(log, split, 0.3)
        tr, te = replay_log(train, catalog, enc), replay_log(test, catalog, enc)
        for name, cfg in arms.items():
            std, _, ret = fit_leave_and_return(tr, cfg, enc.layout)
            e = te.session_end
            lls[name].append(return_ll(ret, std(te.after)[e], te.gap_days[e], te.censored[e]))
        print(f"split {split}: " + ", ".join(f"{k} {v[-1]:.4f}" for k, v in lls.items()))
    if args.splits:
        for arm in [a for a in arms if a != "exponential"]:
            label = f"return log-likelihood per session end, {arm} - exponential"
            print(paired_line(label, lls[arm], lls["exponential"]))
    for name, cfg in arms.items():
        for clip in (False, True):
            report, _ = fidelity_report(log, catalog, emb, replace(cfg, clip_inputs=clip))
            g = report["return_gap_days"]
            share = report["inputs_outside_support"]
            print(
                f"fidelity, {name}, clip {clip}: return-gap Kaplan-Meier distance "
                f"{g['km_cdf_distance']:.3f}; median gap held-out {g['held_out_median_km']}, "
                f"simulated {g['simulated_median_km']} days; returned share "
                f"{g['simulated_returned_share']:.3f}; session KS "
                f"{report['session_length']['ks']:.3f}; inputs outside the support "
                f"{'-' if share is None else f'{share:.1%}'}"
            )


if __name__ == "__main__":
    main()
