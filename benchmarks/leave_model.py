"""The leave model, one fit recipe against another: by default a one-hidden-layer MLP
against the logistic model (``FitConfig.leave_model``); ``--a`` and ``--b`` take any
fit settings (``key=value``, as ``ltvrec sim fit --set``).

1. Held-out log-likelihood per request and calibration (ECE) of the leave model, fitted
   on 70% of the users and scored on the other 30%, paired over random user splits.
2. The fidelity report (time split, replay policy) per recipe: session-length KS, the
   leave model's held-out ECE, the return-gap Kaplan-Meier distance.

    .venv/bin/python benchmarks/leave_model.py --data ml-100k [--splits 5]
    .venv/bin/python benchmarks/leave_model.py --data known-world
    .venv/bin/python benchmarks/leave_model.py --data ml-100k --a organic=true \
        leave_duration_bins=12 --b organic=true
"""

from __future__ import annotations

import argparse

import numpy as np
from _common import log_and_vectors, paired_line, user_split

from ltvrec.config import load_config
from ltvrec.encoders.state import UserStateEncoder
from ltvrec.simulators.components import fit_leave_and_return, leave_log_likelihood
from ltvrec.simulators.fidelity import _reliability, fidelity_report
from ltvrec.simulators.fitted import FitConfig
from ltvrec.simulators.replay import replay_log


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="ml-100k", help="a fetched data set, or known-world")
    p.add_argument("--splits", type=int, default=5, help="0: the fidelity part only")
    p.add_argument("--users", type=int, default=3000, help="known world: users logged")
    p.add_argument("--a", nargs="*", default=["leave_model=mlp"], help="fit settings of A")
    p.add_argument("--b", nargs="*", default=[], help="fit settings of B (the reference)")
    args = p.parse_args()
    log, catalog, emb = log_and_vectors(args.data, args.users)
    enc = UserStateEncoder(emb)
    names = (" ".join(args.a) or "defaults", " ".join(args.b) or "defaults")
    arms = {
        names[0]: load_config(FitConfig, overrides=args.a),
        names[1]: load_config(FitConfig, overrides=args.b),
    }
    print(f"{args.data}: leave model, A = {names[0]} vs B = {names[1]}; {args.splits} user splits")
    ll: dict[str, list[float]] = {name: [] for name in arms}
    ece: dict[str, list[float]] = {name: [] for name in arms}
    for split in range(args.splits):
        train, test = user_split(log, split, 0.3)
        tr, te = replay_log(train, catalog, enc), replay_log(test, catalog, enc)
        for name, cfg in arms.items():
            std, leave, _ = fit_leave_and_return(tr, cfg, enc.layout)
            xa = std(te.after)
            ll[name].append(leave_log_likelihood(leave, xa, te.session_end))
            p_leave = 1 / (1 + np.exp(-np.clip(leave.logit(xa), -30, 30)))
            ece[name].append(_reliability(p_leave, te.session_end.astype(float))["ece"])
        print(
            f"split {split}: "
            + ", ".join(f"{k} {ll[k][-1]:.4f} (ECE {ece[k][-1]:.4f})" for k in arms)
        )
    if args.splits:
        a, b = names
        print(paired_line("leave log-likelihood per request, A - B", ll[a], ll[b]))
        print(paired_line("leave ECE, A - B", ece[a], ece[b], higher_is_better=False))
    for name, cfg in arms.items():
        report, _ = fidelity_report(log, catalog, emb, cfg)
        print(
            f"fidelity, {name}: session KS {report['session_length']['ks']:.3f}; leave ECE "
            f"{report['leave_calibration']['ece']:.4f}; return-gap Kaplan-Meier distance "
            f"{report['return_gap_days']['km_cdf_distance']:.3f}"
        )


if __name__ == "__main__":
    main()
