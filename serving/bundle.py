"""The serving bundle: everything needed to compute a trained policy's inputs and scores,
without torch and without pickle (shared/DESIGN.md section 2, "Bundle").

A bundle is a folder:

- ``manifest.json``: format version, ltvrec / onnx opset / library versions at export,
  dims (state size, item vector size, catalog size), slate size K, the item-id map
  (catalog index -> item id), the state encoder's identity, the policy's provenance, and
  the sha256 of every other file;
- ``policy.onnx``: user state ``[B, S]`` -> scores ``[B, N]``; the observation
  standardisation, both towers and the item bias are inside the graph (opset pinned);
- ``item_embeddings.npy``: ``[N, d]`` float32 item vectors read by the state encoder
  (``np.load(allow_pickle=False)``);
- ``state_encoder.json``: the user-state encoder's parameters (decay, block layout,
  session gap);
- ``items.json``: item ids and texts (for the served log's catalog).

:func:`read_manifest` refuses a partial, tampered or incompatible bundle with a message
that names the file and the problem. Export needs torch (:func:`export_bundle`); reading
needs only the standard library and numpy.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ltvrec.artifacts import read_record, write_record
from ltvrec.encoders.state import UserStateEncoder
from ltvrec.errors import ArtifactError, ArtifactNotFoundError

FORMAT_VERSION = 1
OPSET = 17
FILES = ("policy.onnx", "item_embeddings.npy", "state_encoder.json", "items.json")


class BundleError(ArtifactError):
    """A bundle that cannot be served: missing files, altered files, wrong versions."""


def export_bundle(
    policy_dir: str | Path,
    state_encoder: UserStateEncoder,
    item_ids: list[Any],
    out: str | Path,
    texts: list[str] | None = None,
    session_gap_minutes: float = 30.0,
    provenance: dict[str, Any] | None = None,
) -> Path:
    """Write a bundle for the trained policy in ``policy_dir``.

    Args:
        state_encoder: the simulator's user-state encoder (its item vectors must equal
            the policy's own, and its state size the policy's: checked); the runtime
            rebuilds it from the bundle.
        item_ids: catalog index -> item id (served to clients).
        texts: item texts for the served log's catalog (default: the ids as text).
        session_gap_minutes: inactivity that starts a new session when a request does
            not say which session it belongs to.
    """
    import onnx
    import torch as th

    from ltvrec.agents.policies import load_policy

    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise BundleError(f"{out} exists and is not empty; choose a new folder")
    policy, meta = load_policy(policy_dir)
    emb = np.ascontiguousarray(state_encoder.item_embeddings, dtype=np.float32)
    own = policy.item_embeddings.detach().numpy()
    if emb.shape != own.shape or not np.allclose(emb, own, atol=1e-6):
        raise BundleError(
            f"the policy in {policy_dir} was trained on other item vectors than the "
            f"simulator given ({own.shape} vs {emb.shape}); export with its own simulator"
        )
    if len(item_ids) != emb.shape[0]:
        raise BundleError(f"{len(item_ids)} item ids for {emb.shape[0]} items")
    state_dim = int(meta.get("state_dim", meta["observation_size"]))
    if state_dim != state_encoder.size:
        raise BundleError(
            f"the policy in {policy_dir} reads a user state of {state_dim} features; the "
            f"state encoder given writes {state_encoder.size}; export with its own simulator"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    # Beside the output, so the final rename stays on one file system.
    tmp = Path(tempfile.mkdtemp(prefix=".bundle-", dir=out.parent))
    try:

        class _Scores(th.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.policy = policy

            def forward(self, state: th.Tensor) -> th.Tensor:
                return self.policy.scores(state)

        class _MaskedScores(_Scores):
            # The consumed-item mask is applied inside the exported module (not by the
            # runtime), so the served scores are exactly the trained policy's.
            def forward(self, state: th.Tensor, consumed: th.Tensor) -> th.Tensor:  # type: ignore[override]
                return self.policy.scores(th.cat([state, consumed], dim=1))

        n = int(emb.shape[0])
        masked = bool(policy.mask_consumed)
        inputs = {"state": ["batch", state_dim], **({"consumed": ["batch", n]} if masked else {})}
        example = (th.zeros(2, state_dim), *((th.zeros(2, n),) if masked else ()))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
            th.onnx.export(
                (_MaskedScores() if masked else _Scores()).eval(),
                example,
                str(tmp / "policy.onnx"),
                input_names=list(inputs),
                output_names=["scores"],
                dynamic_axes={**{k: {0: "batch"} for k in inputs}, "scores": {0: "batch"}},
                opset_version=OPSET,
                dynamo=False,
            )
        onnx.checker.check_model(onnx.load(str(tmp / "policy.onnx")), full_check=True)
        np.save(tmp / "item_embeddings.npy", emb, allow_pickle=False)
        layout = state_encoder.layout
        (tmp / "state_encoder.json").write_text(
            json.dumps(
                {
                    "decay": state_encoder.decay,
                    "engagement_decays": list(state_encoder.engagement_decays),
                    "item_dim": int(emb.shape[1]),
                    "state_size": layout.size,
                    "layout": layout.to_dict(),
                    "session_gap_minutes": float(session_gap_minutes),
                },
                indent=2,
            )
        )
        ids = [i.item() if hasattr(i, "item") else i for i in item_ids]
        names = texts if texts is not None else [str(i) for i in ids]
        (tmp / "items.json").write_text(json.dumps({"item_ids": ids, "texts": names}))
        if layout.size != state_dim:
            raise BundleError(f"the policy reads {state_dim} state features, encoder {layout.size}")
        manifest = {
            "onnx_opset": OPSET,
            "n_items": int(emb.shape[0]),
            "item_dim": int(emb.shape[1]),
            "state_size": state_dim,
            "slate_size": int(meta["slate_size"]),
            "inputs": inputs,
            "mask_consumed": masked,
            "outputs": {"scores": ["batch", int(emb.shape[0])]},
            "policy": {
                "source": str(policy_dir),
                "weights_sha256": meta["weights_sha256"],
                "steps": meta.get("steps"),
                "config": meta.get("config"),
                "provenance": meta.get("provenance"),
            },
        }
        write_record(tmp, "bundle", FORMAT_VERSION, list(FILES), manifest, provenance or {})
        if out.exists():
            out.rmdir()
        tmp.rename(out)  # the bundle appears whole or not at all
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return out


def export_trained(
    policy_dir: str | Path,
    out: str | Path,
    env: str | None = None,
    sim: str | Path | None = None,
    world_config: str | Path | None = None,
    session_gap_minutes: float = 30.0,
) -> Path:
    """:func:`export_bundle` for a policy trained by ``ltvrec train`` (or a pipeline):
    by default on the simulator it was trained on (recorded in its ``policy.json``), so
    ``ltvrec export --policy runs/demo/ppo --out B`` needs nothing else."""
    from ltvrec.agents.policies import trained_on
    from ltvrec.simulators.known_world import KnownWorld
    from ltvrec.simulators.load import load_simulator

    if env is None:
        env, trained_sim = trained_on(policy_dir)
        sim = sim if sim is not None else trained_sim
    simulator, _ = load_simulator(env, sim, world_config)
    if isinstance(simulator, KnownWorld):
        ids, texts = list(range(simulator.n_items)), list(simulator.items.titles)
    else:
        ids, texts = list(simulator.item_ids), None  # type: ignore[attr-defined]
    return export_bundle(
        policy_dir,
        simulator.state_encoder,
        ids,
        out,
        texts=texts,
        session_gap_minutes=session_gap_minutes,
        provenance={"env": env, "sim": str(sim) if sim else None},
    )


def read_manifest(folder: str | Path) -> dict[str, Any]:
    """The bundle's manifest, after checking every file is present and unaltered and
    that this ltvrec can serve its format.

    Raises:
        BundleError: naming the missing or altered file, or the incompatible version.
    """
    folder = Path(folder)
    try:
        manifest = read_record(folder, "bundle", FORMAT_VERSION, list(FILES))
    except (ArtifactError, ArtifactNotFoundError) as e:
        raise BundleError(str(e)) from None
    if manifest.get("onnx_opset", 0) > OPSET:
        raise BundleError(f"{folder}: ONNX opset {manifest['onnx_opset']} is newer than {OPSET}")
    return manifest
