"""Experiment sweeps (``ltvrec sweep``): a grid or random search over config fields and
seeds, each trial = train + evaluate (the code ``ltvrec train`` / ``ltvrec evaluate``
run), sequentially (``backend="local"``, no Ray) or as Ray Tune trials.

A sweep file (YAML)::

    name: lr-gamma
    env: known-world          # or fitted, with sim: DIR
    world: {horizon_days: 30} # KnownWorldConfig fields (known world)
    train: {steps: 50000}     # TrainConfig fields shared by every trial
    grid:                     # every combination; keys are train.<field> or world.<field>
      train.learning_rate: [0.0003, 0.001]
      train.gamma: [0.99, 0.995]
    random:                   # optional: n draws instead of (or on top of) the grid
      n: 4
      space: {train.ent_coef: {loguniform: [0.0001, 0.01]}}
    seeds: [0, 1, 2]
    eval: {users: 500, gamma: 0.995}

Every trial has a stable id (a hash of its settings) and a folder ``OUT/trials/ID``
holding its settings, the trained policy, ``result.json`` or ``error.txt``. Re-running
a sweep skips trials whose ``result.json`` exists (resume) and retries failed ones; a
failed trial is reported with its error and does not stop the others. The summary
(``OUT/sweep.md``, ``sweep.json``, ``sweep.png``) gives per configuration the mean
long-term value and a 95% t-interval over seeds.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import traceback
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from scipy import stats

from ltvrec.config import build_config
from ltvrec.errors import ConfigError
from ltvrec.interactions.io import atomic_path
from ltvrec.scale import local_ray

logger = logging.getLogger(__name__)

BACKENDS = ("local", "ray")


@dataclass(frozen=True)
class Trial:
    """One training run: the settings that differ from the sweep's base, and a seed."""

    settings: dict[str, Any]
    seed: int

    @property
    def config_key(self) -> str:
        """The configuration without the seed (trials of one key are aggregated)."""
        return json.dumps(self.settings, sort_keys=True)

    @property
    def id(self) -> str:
        raw = json.dumps({"settings": self.settings, "seed": self.seed}, sort_keys=True)
        return hashlib.sha256(raw.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class SweepSpec:
    """A parsed sweep file (see the module docstring)."""

    name: str
    env: str = "known-world"
    sim: str | None = None
    world: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)
    grid: dict[str, list[Any]] = field(default_factory=dict)
    random: dict[str, Any] = field(default_factory=dict)
    seeds: list[int] = field(default_factory=lambda: [0])
    eval: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | Path) -> SweepSpec:
        raw = yaml.safe_load(Path(path).read_text()) or {}
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ConfigError(f"{path}: unknown keys {unknown}; known: {', '.join(sorted(known))}")
        if "name" not in raw:
            raise ConfigError(f"{path}: a sweep needs a name")
        spec = cls(**raw)
        spec.check()
        return spec

    def check(self) -> None:
        from ltvrec.agents.train_ppo import TrainConfig
        from ltvrec.simulators.known_world import KnownWorldConfig

        valid = {"train": {f.name for f in fields(TrainConfig)},
                 "world": {f.name for f in fields(KnownWorldConfig)}}  # fmt: skip
        space = self.random.get("space", {}) if self.random else {}
        for key in [*self.grid, *space]:
            part, _, name = key.partition(".")
            if part not in valid or name not in valid[part]:
                raise ConfigError(
                    f"sweep key {key!r} is not train.<TrainConfig field> or "
                    "world.<KnownWorldConfig field>"
                )
        for key, values in self.grid.items():
            if not isinstance(values, list) or not values:
                raise ConfigError(f"grid {key!r} needs a non-empty list of values")
        if self.env not in ("known-world", "fitted"):
            raise ConfigError(f"env must be known-world or fitted, got {self.env!r}")
        if self.env == "fitted" and not self.sim:
            raise ConfigError("env fitted needs sim: DIR (from `ltvrec sim fit`)")
        if not self.seeds:
            raise ConfigError("seeds must list at least one seed")
        # The shared settings must make valid configs before any trial runs.
        build_config(TrainConfig, self.train)
        if self.env == "known-world":
            build_config(KnownWorldConfig, self.world)

    def trials(self) -> list[Trial]:
        """Grid combinations (and random draws) x seeds, in a stable order."""
        combos: list[dict[str, Any]] = []
        if self.grid:
            keys = sorted(self.grid)
            combos += [
                dict(zip(keys, v, strict=True))
                for v in itertools.product(*(self.grid[k] for k in keys))
            ]
        if self.random:
            rng = np.random.default_rng(int(self.random.get("seed", 0)))
            for _ in range(int(self.random.get("n", 1))):
                combos.append({k: _draw(d, rng) for k, d in sorted(self.random["space"].items())})
        combos = combos or [{}]
        return [Trial(c, int(s)) for c in combos for s in self.seeds]


def _draw(dist: dict[str, Any], rng: np.random.Generator) -> Any:
    ((kind, arg),) = dist.items()
    if kind == "choice":
        return arg[int(rng.integers(len(arg)))]
    if kind == "uniform":
        return float(rng.uniform(*arg))
    if kind == "loguniform":
        return float(np.exp(rng.uniform(np.log(arg[0]), np.log(arg[1]))))
    raise ValueError(f"unknown distribution {kind!r}; use choice, uniform or loguniform")


def run_trial(spec: SweepSpec, trial: Trial, root: Path) -> dict[str, Any]:
    """Train + evaluate one trial into ``root/trials/ID`` (the ``ltvrec train`` and
    ``ltvrec evaluate`` code path). Errors are written to ``error.txt`` and returned,
    not raised, so one failure does not stop a sweep."""
    folder = root / "trials" / trial.id
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "trial.json").write_text(
        json.dumps({"settings": trial.settings, "seed": trial.seed}, indent=2)
    )
    try:
        result = _train_and_evaluate(spec, trial, folder)
    except Exception as e:
        (folder / "error.txt").write_text(traceback.format_exc())
        return {"trial": trial.id, "error": f"{type(e).__name__}: {e}"}
    (folder / "error.txt").unlink(missing_ok=True)
    with atomic_path(folder / "result.json") as tmp:
        tmp.write_text(json.dumps(result, indent=2))
    return result


def _train_and_evaluate(spec: SweepSpec, trial: Trial, folder: Path) -> dict[str, Any]:
    import torch as th

    from ltvrec.agents.evaluation import evaluate_many
    from ltvrec.agents.policies import PPOPolicy
    from ltvrec.agents.train_ppo import TrainConfig, train
    from ltvrec.simulators import FittedSimulator, KnownWorld
    from ltvrec.simulators.known_world import KnownWorldConfig

    th.set_num_threads(1)  # one CPU per trial; also makes trials reproducible anywhere
    world_over = {
        **spec.world,
        **{k[6:]: v for k, v in trial.settings.items() if k.startswith("world.")},
    }
    train_over = {
        **spec.train,
        **{k[6:]: v for k, v in trial.settings.items() if k.startswith("train.")},
    }
    train_over.update(seed=trial.seed, torch_threads=1)
    sim: Any = (
        KnownWorld(build_config(KnownWorldConfig, world_over))
        if spec.env == "known-world"
        else FittedSimulator.load(str(spec.sim))
    )
    cfg = build_config(TrainConfig, train_over)
    model, _ = train(
        sim, cfg, folder / "policy", provenance={"sweep": spec.name, "trial": trial.id}
    )
    users = int(spec.eval.get("users", 500))
    gamma = float(spec.eval.get("gamma", 0.995))
    row = evaluate_many(sim, {"ppo": PPOPolicy(model.policy)}, users, 1, gamma)[0]  # type: ignore[arg-type]
    return {
        "trial": trial.id,
        "settings": trial.settings,
        "seed": trial.seed,
        "value": row["value"],
        "value_ci": row["value_ci"],
        "discounted_value": row["discounted_value"],
        "users": users,
        "steps": cfg.steps,
    }


def _done(root: Path, trial: Trial) -> dict[str, Any] | None:
    f = root / "trials" / trial.id / "result.json"
    return json.loads(f.read_text()) if f.is_file() else None


def _run_ray(
    spec: SweepSpec, todo: list[Trial], root: Path, max_concurrent: int, address: str | None
) -> None:
    with local_ray(num_cpus=None if address else max_concurrent, address=address):
        from ray import tune

        def trainable(config: dict[str, Any]) -> dict[str, Any]:
            t = config["trial"]
            return run_trial(spec, Trial(t["settings"], t["seed"]), root)

        grid_search = tune.grid_search([{"settings": t.settings, "seed": t.seed} for t in todo])
        tuner = tune.Tuner(
            tune.with_resources(trainable, {"cpu": 1}),
            param_space={"trial": grid_search},
            tune_config=tune.TuneConfig(max_concurrent_trials=max_concurrent),
            run_config=tune.RunConfig(
                name=spec.name, storage_path=str((root / "ray").absolute()), verbose=0
            ),
        )
        results = tuner.fit()
        for i in range(len(results)):  # failures outside run_trial (a lost worker)
            res = results[i]
            t = res.config["trial"] if res.config else None
            if res.error is not None and t is not None:
                folder = root / "trials" / Trial(t["settings"], t["seed"]).id
                folder.mkdir(parents=True, exist_ok=True)
                if not (folder / "error.txt").is_file():
                    (folder / "error.txt").write_text(f"{type(res.error).__name__}: {res.error}\n")


# --------------------------------------------------------------------------- the sweep


def run_sweep(
    spec: SweepSpec,
    out: str | Path,
    backend: str = "local",
    max_concurrent: int = 2,
    address: str | None = None,
) -> dict[str, Any]:
    """Run every trial not finished yet, then aggregate all of them."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    # Absolute paths: Ray Tune runs each trial in its own working directory.
    root = Path(out).absolute()
    if spec.sim is not None:
        spec = replace(spec, sim=str(Path(spec.sim).absolute()))
    root.mkdir(parents=True, exist_ok=True)
    (root / "sweep.yaml").write_text(yaml.safe_dump(asdict(spec), sort_keys=False))
    trials = spec.trials()
    todo = [t for t in trials if _done(root, t) is None]
    done = len(trials) - len(todo)
    logger.info(f"{len(trials)} trials, {done} already done, {len(todo)} to run ({backend})")
    if todo and backend == "local":
        for i, t in enumerate(todo, 1):
            r = run_trial(spec, t, root)
            logger.info(
                f"trial {i}/{len(todo)} {t.id}: " + (r.get("error") or f"value {r['value']:.2f}")
            )
    elif todo:
        _run_ray(spec, todo, root, max_concurrent, address)
    return summarise(spec, trials, root)


def summarise(spec: SweepSpec, trials: list[Trial], root: Path) -> dict[str, Any]:
    """Mean and 95% t-interval over seeds per configuration; failed trials listed."""
    groups: dict[str, list[float]] = {}
    failed = []
    for t in trials:
        r = _done(root, t)
        if r is None:
            err = root / "trials" / t.id / "error.txt"
            last = err.read_text().strip().splitlines()[-1] if err.is_file() else "not run"
            failed.append({"trial": t.id, "settings": t.settings, "seed": t.seed, "error": last})
            continue
        groups.setdefault(t.config_key, []).append(float(r["value"]))
    rows = []
    for key, values in groups.items():
        v = np.array(values)
        half = (
            float(stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)))
            if len(v) > 1
            else float("nan")
        )
        m = float(v.mean())
        rows.append({"settings": json.loads(key), "seeds": len(v), "value": m,
                     "ci": [m - half, m + half], "per_seed": values})  # fmt: skip
    rows.sort(key=lambda r: -r["value"])
    summary = {"name": spec.name, "trials": len(trials), "configs": rows, "failed": failed}
    _write(summary, root)
    return summary


def _label(settings: dict[str, Any]) -> str:
    return (
        ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in settings.items())
        or "base"
    )


def _write(summary: dict[str, Any], root: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with atomic_path(root / "sweep.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=2) + "\n")
    head = "| config | seeds | long-term value | 95% CI over seeds |"
    lines = [f"# Sweep {summary['name']}", "", head, "|---|---|---|---|"]
    for r in summary["configs"]:
        lines.append(f"| {_label(r['settings'])} | {r['seeds']} | {r['value']:.2f} | "
                     f"[{r['ci'][0]:.2f}, {r['ci'][1]:.2f}] |")  # fmt: skip
    if summary["failed"]:
        lines += ["", "Failed trials:", ""]
        lines += [
            f"- {f['trial']} ({_label(f['settings'])}, seed {f['seed']}): {f['error']}"
            for f in summary["failed"]
        ]
    with atomic_path(root / "sweep.md") as tmp:
        tmp.write_text("\n".join(lines) + "\n")
    rows = summary["configs"]
    if rows:
        fig, ax = plt.subplots(figsize=(6, 0.4 * len(rows) + 1.5))
        y = np.arange(len(rows))
        vals = [r["value"] for r in rows]
        err = [[r["value"] - r["ci"][0] for r in rows], [r["ci"][1] - r["value"] for r in rows]]
        ax.errorbar(vals, y, xerr=np.nan_to_num(err), fmt="o", capsize=3)
        ax.set_yticks(y, [_label(r["settings"]) for r in rows], fontsize=7)
        ax.set_xlabel("long-term value (mean over seeds, 95% CI)")
        fig.tight_layout()
        fig.savefig(root / "sweep.png", dpi=100)
        plt.close(fig)
