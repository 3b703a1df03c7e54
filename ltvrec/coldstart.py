"""The cold-start experiment (``ltvrec experiment cold-start``): items that arrive after
training, known by their title alone, in the known world.

Per seed ``i``, a known world drawn with seed ``world.seed + i``:

1. a share of its items (``holdout``, default 20%, drawn per seed) is *new*: the logging
   policy never shows them, the simulator is fitted without them (its catalog is the
   other items), the text encoder's PCA is fitted on the other items' titles, and PPO
   trains on the fitted simulator without them (with ``id_dropout`` of the trained
   catalog's id biases held at 0, so the text path learns to stand alone);
2. after training the new items are added by their title: title -> text encoder -> the
   PCA fitted before -> a row of the policy's item table (:mod:`ltvrec.catalog`);
3. every policy is evaluated in the TRUE world (whose catalog holds every item), on the
   same fresh users, without and with the new items:

   - ``ppo`` / ``ppo + new``: the trained policy over the old catalog, then over both;
   - ``greedy-model`` / ``greedy-model + new``: greedy on the fitted model, which scores
     a new item from its text (its choice key and reward term are linear in the text
     vector, its item utility regressed on it);
   - ``popularity-log``: cannot score an item nobody consumed, so it stays on the old
     catalog (and says so); ``logging``: the logging policy (old catalog only);
   - ``quality-aware-oracle``: reads the truth's latent state and every item's quality
     (all items), labelled as an oracle.

Measured per seed, then over seeds with t-intervals (seed-level, paired): each policy's
long-term value; the change from adding the new items; the share of clicks that go to
new items; and the Spearman rank correlation between the scores a policy gives the new
items (mean over the states its own users visit) and their true quality (and, for
context, their appeal: what a click model learns to chase).
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ltvrec.agents.baselines import popularity_log
from ltvrec.agents.evaluation import comparison_line, paired_comparison
from ltvrec.agents.policies import PPOPolicy
from ltvrec.agents.policy import SlateActorCriticPolicy
from ltvrec.agents.train_ppo import TrainConfig, train
from ltvrec.errors import ConfigError
from ltvrec.experiment import encode_titles
from ltvrec.interactions.io import atomic_path
from ltvrec.interactions.schema import ItemCatalog
from ltvrec.simulators import (
    FitConfig,
    KnownWorld,
    KnownWorldConfig,
    PlackettLucePolicy,
    QualityAwarePolicy,
    fit_simulator,
    simulate_log,
)
from ltvrec.simulators.base import RNG, SimState, StepResult, UserSimulator
from ltvrec.simulators.policies import ScoredPolicy, SimPolicy
from ltvrec.simulators.rollout import run_users

logger = logging.getLogger(__name__)

HOLDOUT = 0.2
"""Default share of the catalog held out as new items."""


@dataclass(frozen=True)
class OnCatalog(ScoredPolicy):
    """A scored policy over its own catalog (``ids``: world item index of each of its
    items, in its order), acting in a world with more items: every item it does not
    know scores ``-inf`` (never shown)."""

    inner: ScoredPolicy
    ids: np.ndarray
    n_world: int
    name: str = "on-catalog"
    deterministic: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "deterministic", self.inner.deterministic)
        object.__setattr__(self, "masks_consumed", self.inner.masks_consumed)

    def scores(self, obs: np.ndarray, consumed: np.ndarray | None = None) -> np.ndarray:
        own = self.inner.scores(obs, None if consumed is None else consumed[:, self.ids])
        out = np.full((len(obs), self.n_world), -np.inf)
        out[:, self.ids] = own
        return out


@dataclass(frozen=True)
class SignalGreedy(ScoredPolicy):
    """Greedy on the fitted model, over an item table's signal columns (the trained
    catalog's, or with new items' rows from their text): top-K by the greedy signal."""

    policy: Any  # SlateActorCriticPolicy with signals
    table: Any  # th.Tensor [N, width]
    name: str = "greedy-model"
    deterministic: bool = True

    def scores(self, obs: np.ndarray, consumed: np.ndarray | None = None) -> np.ndarray:
        import torch as th

        d = int(self.policy.item_embeddings.shape[1])
        with th.no_grad():
            x = th.as_tensor(obs[:, : self.policy.state_dim], dtype=th.float32)
            feats = self.policy.signals(x, self.table[:, d + 1 :])
        return feats[..., 0].double().numpy()


@dataclass
class SubCatalog:
    """The true world with only the items ``ids`` on offer (indices ``0..len(ids)-1``): a
    policy trained here never sees the others, though users live in the full world. Needs
    a world that allows repeats (its states carry no consumed-item mask)."""

    world: KnownWorld
    ids: np.ndarray

    def __post_init__(self) -> None:
        if not self.world.allow_repeats or self.world.organic:
            raise ValueError(
                "SubCatalog needs a world that allows repeats and has no organic consumptions"
            )
        self.n_items = len(self.ids)
        self.slate_size = self.world.slate_size
        self.horizon_days = self.world.horizon_days
        self.item_embeddings = self.world.item_embeddings[self.ids]
        self.state_encoder = self.world.state_encoder
        self.allow_repeats = True
        self.organic = False
        self._inverse = np.full(self.world.n_items, -1)
        self._inverse[self.ids] = np.arange(len(self.ids))

    def reset(self, n: int, rng: RNG) -> SimState:
        return self.world.reset(n, rng)

    def step(self, state: SimState, slates: np.ndarray, rng: RNG) -> tuple[SimState, StepResult]:
        state, r = self.world.step(state, self.ids[slates], rng)
        item = np.where(r.clicked_item >= 0, self._inverse[np.maximum(r.clicked_item, 0)], -1)
        return state, replace(r, clicked_item=item)

    def choice_logits(self, state: SimState, slates: np.ndarray) -> np.ndarray:
        return self.world.choice_logits(state, self.ids[slates])

    def item_click_logits(self, state: SimState) -> np.ndarray:
        return self.world.item_click_logits(state)[:, self.ids]


def held_out_split(
    world_cfg: KnownWorldConfig, holdout: float, model: str, seed: int
) -> tuple[KnownWorld, np.ndarray, np.ndarray]:
    """Seed ``seed``'s split: the world (every item, item vectors from the titles through
    ``model`` and a PCA fitted on the old items' titles alone), and the sorted indices
    of its old and new items (``holdout`` of them new, drawn from the world's seed)."""
    items = KnownWorld(world_cfg).items
    n = len(items.titles)
    pick = np.random.default_rng([world_cfg.seed, 17]).permutation(n)
    new = np.sort(pick[: max(1, round(holdout * n))])
    old = np.sort(pick[len(new) :])
    emb = encode_titles(items.titles, model, world_cfg.embedding_dim, seed, fit_rows=old)
    return KnownWorld(world_cfg, item_embeddings=emb), old, new


def _run(
    world: UserSimulator, policy: SimPolicy, n_users: int, seed: int, new: np.ndarray
) -> dict[str, Any]:
    """Value per user, the share of clicks on ``new`` items, and up to 2,000 visited
    observations (for the policy's mean scores)."""
    rng = np.random.default_rng(seed)
    value = np.zeros(n_users)
    is_new = np.zeros(world.n_items, dtype=bool)
    is_new[new] = True
    clicks = [0, 0]
    states: list[np.ndarray] = []

    def count(ids: np.ndarray, state: SimState, slates: np.ndarray, r: Any) -> None:
        value[ids] += r.reward
        hit = r.clicked_item >= 0
        clicks[0] += int(hit.sum())
        clicks[1] += int(is_new[r.clicked_item[hit]].sum())
        if sum(len(s) for s in states) < 2000:
            states.append(np.asarray(state.obs))

    for start in range(0, n_users, 1024):
        n = min(1024, n_users - start)
        ids = np.arange(start, start + n)
        run_users(world, policy, world.reset(n, rng), rng, count, ids=ids)
    return {
        "value": float(value.mean()),
        "values": value,
        "new_click_share": clicks[1] / max(clicks[0], 1),
        "states": np.concatenate(states)[:2000],
    }


def text_capacity(emb: np.ndarray, quality: np.ndarray, old: np.ndarray, new: np.ndarray) -> float:
    """How much of the new items' true quality (or any other item truth) their text
    vectors carry: Spearman, on the new items, of a ridge regression from text vector to
    the TRUE values fitted on the old items (an oracle reference: it reads the truth; no
    log-buildable policy can)."""
    e = np.c_[emb, np.ones(len(emb))].astype(np.float64)
    a = e[old]
    coef = np.linalg.solve(a.T @ a + np.eye(e.shape[1]), a.T @ quality[old])
    return _spearman(e[new] @ coef, quality[new])


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy import stats

    return float(stats.spearmanr(a, b).statistic)


def run_cold_start(
    seeds: int,
    out: str | Path,
    train_config: TrainConfig | None = None,
    world_config: KnownWorldConfig | None = None,
    log_users: int = 3000,
    eval_users: int = 2000,
    model: str = "minilm",
    holdout: float = HOLDOUT,
    train_true: bool = True,
    fit_config: FitConfig | None = None,
) -> dict[str, Any]:
    """Run the experiment for seeds 0..seeds-1; write ``report.md`` and ``report.json``
    into ``out``; return the report.

    Args:
        train_true: also train PPO in the TRUE world restricted to the old items
            (``ppo-true``, not buildable from logs): whether new items' scores follow
            their quality when the learner is taught by the truth rather than the
            fitted simulator.
        fit_config: how the simulator is fitted (``horizon_days`` and ``seed`` are set
            per seed). With ``item_consequences``, the item vectors end with each old
            item's consequence estimated from the logs, and a new item's is predicted
            from its text by the trained policy's text map; the truth shows its users'
            states through those vectors (observation only), as in the known-world
            experiment."""
    if not 0.0 < holdout < 1.0:
        raise ValueError(f"holdout must be in (0, 1), got {holdout}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tcfg = train_config or TrainConfig(id_dropout=holdout)
    wcfg = world_config or KnownWorldConfig()
    fcfg = fit_config or FitConfig()
    if fcfg.item_consequences and tcfg.start == "none":
        raise ConfigError(
            "fit.item_consequences needs a policy with the baselines' signals to predict a "
            "new item's consequence from its text; start='none' has none"
        )
    if wcfg.observe_latent:
        raise ConfigError(
            "world.observe_latent shows policies the simulator's latent state; it is for "
            "training on the true world alone (the ceiling check), not for experiments "
            "whose policies are built from logs"
        )
    per_seed: list[dict[str, Any]] = []
    for seed in range(seeds):
        world_cfg = replace(wcfg, seed=wcfg.seed + seed)
        logger.info(f"seed {seed}: holding {holdout:.0%} of the items out; encoding titles")
        # The new items' vectors: their titles through the PCA fitted on the old ones.
        world, old, new = held_out_split(world_cfg, holdout, model, seed)
        items, emb, n = world.items, world.item_embeddings, world.n_items
        shown = world.logging_scores().copy()
        shown[new] = -np.inf
        logging_policy = PlackettLucePolicy(shown, world.slate_size)
        logger.info(f"seed {seed}: logging {log_users} users (old items only)")
        log = simulate_log(world, logging_policy, log_users, seed=seed)
        catalog = ItemCatalog.from_frame(
            pd.DataFrame(
                {"item_id": old, "text": [items.titles[i] for i in old], "price": items.price[old]}
            )
        )
        recipe = replace(fcfg, horizon_days=wcfg.horizon_days, seed=seed)
        fitted = fit_simulator(log, catalog, emb[old], recipe)
        cfg = replace(tcfg, seed=seed)
        logger.info(f"seed {seed}: PPO on the fitted simulator ({cfg.steps:,} steps)")
        ppo, _ = train(fitted, cfg, out / f"seed{seed}" / "ppo", model_from_logs=fitted)
        net = ppo.policy
        assert isinstance(net, SlateActorCriticPolicy)
        if fitted.item_embeddings.shape[1] != emb.shape[1]:
            # Item consequences: the old items' column from the logs, the new items'
            # predicted from their text; every policy reads states made of these.
            vectors = np.zeros((n, fitted.item_embeddings.shape[1]), dtype=np.float32)
            vectors[old] = fitted.item_embeddings
            vectors[new] = net.text_map().vectors(emb[new])
            world = KnownWorld(world_cfg, item_embeddings=vectors)
        both = np.r_[old, new]
        trained = PPOPolicy(net, name="ppo")
        grown = trained.with_items(emb[new], name="ppo + new")
        policies: dict[str, SimPolicy] = {
            "ppo": OnCatalog(trained, old, n, name="ppo"),
            "ppo + new": OnCatalog(grown, both, n, name="ppo + new"),
        }
        if train_true:
            logger.info(f"seed {seed}: PPO in the true world, old items only ({cfg.steps:,} steps)")
            true_model, _ = train(
                SubCatalog(world, old),
                cfg,
                out / f"seed{seed}" / "ppo-true",
                model_from_logs=fitted,
            )
            true_net = true_model.policy
            assert isinstance(true_net, SlateActorCriticPolicy)
            on_truth = PPOPolicy(true_net, name="ppo-true")
            policies["ppo-true"] = OnCatalog(on_truth, old, n, name="ppo-true")
            policies["ppo-true + new"] = OnCatalog(
                on_truth.with_items(emb[new], name="ppo-true + new"), both, n, name="ppo-true + new"
            )
        if net.signals is not None:
            policies["greedy-model"] = OnCatalog(
                SignalGreedy(net, net.item_table().detach()), old, n, name="greedy-model"
            )
            policies["greedy-model + new"] = OnCatalog(
                SignalGreedy(net, grown.table), both, n, name="greedy-model + new"
            )
        policies["popularity-log"] = OnCatalog(
            popularity_log(fitted), old, n, name="popularity-log"
        )
        policies["logging"] = logging_policy
        policies["quality-aware-oracle"] = QualityAwarePolicy(
            world.items.quality, 1.0, name="quality-aware-oracle"
        )
        eval_seed = 1_000_000 + seed
        row: dict[str, Any] = {
            "seed": seed,
            "n_new": len(new),
            "policies": {},
            "text_quality_oracle": text_capacity(emb, items.quality, old, new),
        }
        for name, policy in policies.items():
            logger.info(f"seed {seed}: evaluating {name} on {eval_users} true-world users")
            r = _run(world, policy, eval_users, eval_seed, new)
            entry = {"value": r["value"], "new_click_share": r["new_click_share"]}
            if name.endswith("+ new"):
                inner = policies[name].inner  # type: ignore[attr-defined]
                s = inner.scores(r["states"], np.zeros((len(r["states"]), len(both)), bool))
                mean_new = np.where(np.isfinite(s), s, np.nan)[:, len(old) :]
                mean_new = np.nanmean(mean_new, axis=0)
                ok = np.isfinite(mean_new)
                entry["spearman_quality"] = _spearman(mean_new[ok], items.quality[new][ok])
                entry["spearman_appeal"] = _spearman(mean_new[ok], items.appeal[new][ok])
            entry["values"] = r["values"]
            row["policies"][name] = entry
        per_seed.append(row)
    report = _summarise(per_seed, seeds, tcfg, wcfg, log_users, eval_users, model, holdout)
    report["fit_config"] = asdict(fcfg)
    _write(report, out)
    return report


def _t_interval(x: list[float]) -> dict[str, Any]:
    from scipy import stats

    a = np.asarray(x, dtype=np.float64)
    if len(a) < 2:
        return {"mean": float(a.mean()), "ci": [float("nan"), float("nan")], "per_seed": a.tolist()}
    half = float(stats.t.ppf(0.975, len(a) - 1) * a.std(ddof=1) / np.sqrt(len(a)))
    m = float(a.mean())
    return {"mean": m, "ci": [m - half, m + half], "per_seed": a.tolist()}


def _summarise(
    per_seed: list[dict[str, Any]],
    seeds: int,
    tcfg: TrainConfig,
    wcfg: KnownWorldConfig,
    log_users: int,
    eval_users: int,
    model: str,
    holdout: float,
) -> dict[str, Any]:
    names = list(per_seed[0]["policies"])
    table = []
    for name in names:
        vals = [s["policies"][name]["value"] for s in per_seed]
        users = np.concatenate([s["policies"][name]["values"] for s in per_seed])
        se = float(users.std(ddof=1) / np.sqrt(len(users)))
        iv = _t_interval(vals)
        table.append(
            {
                "policy": name,
                "value": iv["mean"],
                "seed_ci": iv["ci"],
                "value_per_seed": vals,
                "pooled_ci": [float(users.mean() - 1.96 * se), float(users.mean() + 1.96 * se)],
                "new_click_share": float(
                    np.mean([s["policies"][name]["new_click_share"] for s in per_seed])
                ),
            }
        )
    comparisons = {}
    for base in ("ppo", "ppo-true", "greedy-model"):
        if f"{base} + new" in names:
            comparisons[f"{base} + new vs {base}"] = paired_comparison(
                [s["policies"][f"{base} + new"]["value"] for s in per_seed],
                [s["policies"][base]["value"] for s in per_seed],
            )
    for other in ("greedy-model + new", "popularity-log", "logging"):
        if other in names:
            comparisons[f"ppo + new vs {other}"] = paired_comparison(
                [s["policies"]["ppo + new"]["value"] for s in per_seed],
                [s["policies"][other]["value"] for s in per_seed],
            )
    spearman = {
        name: {
            key: _t_interval([s["policies"][name][key] for s in per_seed])
            for key in ("spearman_quality", "spearman_appeal")
        }
        for name in names
        if name.endswith("+ new")
    }
    return {
        "seeds": seeds,
        "holdout": holdout,
        "text_quality_oracle": _t_interval([s["text_quality_oracle"] for s in per_seed]),
        "n_new_per_seed": [s["n_new"] for s in per_seed],
        "log_users": log_users,
        "eval_users_per_seed": eval_users,
        "text_model": model,
        "train_config": {**asdict(tcfg), "hidden": list(tcfg.hidden)},
        "world_config": asdict(wcfg),
        "table": table,
        "comparisons": comparisons,
        "spearman": spearman,
    }


ORACLE = "oracle: reads the truth"


def _fmt(v: dict[str, Any]) -> str:
    lo, hi = v["ci"]
    per = ", ".join(f"{x:.2f}" for x in v["per_seed"])
    return f"{v['mean']:.2f}, 95% t-interval over seeds [{lo:.2f}, {hi:.2f}] (per seed: {per})"


def _write(report: dict[str, Any], out: Path) -> None:
    with atomic_path(out / "report.json") as tmp:
        tmp.write_text(json.dumps(report, indent=2) + "\n")
    rows = [
        "| policy | value (seed mean) | seed 95% CI | pooled-user CI | clicks on new items |",
        "|---|---|---|---|---|",
    ]
    for r in report["table"]:
        note = f" ({ORACLE})" if r["policy"].endswith("oracle") else ""
        if r["policy"].startswith("ppo-true"):
            note = " (trained in the TRUE world: not buildable from logs)"
        lo, hi = r["seed_ci"]
        plo, phi = r["pooled_ci"]
        rows.append(
            f"| {r['policy']}{note} | {r['value']:.2f} | [{lo:.2f}, {hi:.2f}] | "
            f"[{plo:.2f}, {phi:.2f}] | {r['new_click_share']:.1%} |"
        )
    sp_lines = []
    for name, sp in report["spearman"].items():
        for key, label in (("spearman_quality", "quality"), ("spearman_appeal", "appeal")):
            sp_lines.append(
                f"- {name}: Spearman(score of new items, true {label}) = {_fmt(sp[key])}"
            )
    lines = [
        "# Cold start: new items by their title alone (the known world)",
        "",
        f"{report['seeds']} seeds; per seed {report['holdout']:.0%} of the items "
        f"({report['n_new_per_seed'][0]} of {report['world_config']['n_items']}) are new: "
        "absent from the logs, the simulator fit, the PCA and PPO training, added by title "
        f"afterwards. {report['log_users']} logged users, PPO "
        f"{report['train_config']['steps']:,} steps (id dropout "
        f"{report['train_config']['id_dropout']:g}), {report['eval_users_per_seed']} fresh "
        f"true-world users per policy and seed; text encoder: {report['text_model']}"
        + (
            "; item vectors carry each old item's consequence estimated from the logs, a "
            "new item's predicted from its text (`fit.item_consequences`)."
            if report.get("fit_config", {}).get("item_consequences")
            else "."
        ),
        "",
        "Values are measured in the TRUE world (clicks or reward per user over the horizon). "
        "popularity-log and logging cannot show a new item (nobody consumed one).",
        "",
        *rows,
        "",
        "## Seed-level paired comparisons",
        "",
        *[comparison_line(k, c) for k, c in report["comparisons"].items()],
        "",
        "## Do the scores of new items follow their true quality?",
        "",
        "Each new item's score is its mean over the states the policy's own users visit.",
        "",
        *sp_lines,
        f"- reference ({ORACLE}): a ridge regression from text vector to TRUE quality, fitted "
        f"on the old items, ranks the new ones with Spearman {_fmt(report['text_quality_oracle'])}"
        " (what the text carries about quality).",
        "",
    ]
    with atomic_path(out / "report.md") as tmp:
        tmp.write_text("\n".join(lines))


__all__ = ["HOLDOUT", "OnCatalog", "SignalGreedy", "SubCatalog", "held_out_split", "run_cold_start"]
