"""The return model's baseline hazard: a piecewise-constant hazard over quantile bins of
the excess gap (``FitConfig.return_bins=8``) against one exponential rate (the default,
``return_bins=1``).

1. Held-out log-likelihood per session end of the return model, fitted on 70% of the
   users and scored on the other 30%, paired over random user splits.
2. The fidelity report's return-gap CDF distance (simulated gaps under the replay
   policy against the held-out Kaplan-Meier curve, time split), per bin count.

    .venv/bin/python benchmarks/return_model.py --data ml-100k [--splits 5]
    .venv/bin/python benchmarks/return_model.py --data known-world
"""

from __future__ import annotations

import argparse

from _common import log_and_vectors, paired_line, user_split

from ltvrec.encoders.state import UserStateEncoder
from ltvrec.simulators.fidelity import fidelity_report
from ltvrec.simulators.fitted import FitConfig, fit_leave_and_return, replay_log
from ltvrec.simulators.fitted import return_log_likelihood as return_ll


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="ml-100k", help="a fetched data set, or known-world")
    p.add_argument("--splits", type=int, default=5)
    p.add_argument("--users", type=int, default=3000, help="known world: users logged")
    p.add_argument("--bins", type=int, default=8)
    args = p.parse_args()
    log, catalog, emb = log_and_vectors(args.data, args.users)
    enc = UserStateEncoder(emb)
    arms = {"piecewise": FitConfig(return_bins=args.bins), "exponential": FitConfig(return_bins=1)}
    print(f"{args.data}: {args.bins} bins vs one rate; {args.splits} user splits, 30% held out")
    lls: dict[str, list[float]] = {name: [] for name in arms}
    for split in range(args.splits):
        train, test = user_split(log, split, 0.3)
        tr, te = replay_log(train, catalog, enc), replay_log(test, catalog, enc)
        for name, cfg in arms.items():
            std, _, ret = fit_leave_and_return(tr, cfg)
            e = te.session_end
            lls[name].append(return_ll(ret, std(te.after)[e], te.gap_days[e], te.censored[e]))
        print(f"split {split}: " + ", ".join(f"{k} {v[-1]:.4f}" for k, v in lls.items()))
    print(paired_line("return log-likelihood per session end, piecewise - exponential",
                      lls["piecewise"], lls["exponential"]))  # fmt: skip
    for name, cfg in arms.items():
        report, _ = fidelity_report(log, catalog, emb, cfg)
        g = report["return_gap_days"]
        print(
            f"fidelity, {name}: return-gap Kaplan-Meier distance {g['km_cdf_distance']:.3f}; "
            f"median gap held-out {g['held_out_median_km']}, simulated "
            f"{g['simulated_median_km']} days; simulated session ends followed by a return "
            f"{g['simulated_returned_share']:.3f}"
        )


if __name__ == "__main__":
    main()
