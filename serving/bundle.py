"""The serving bundle: everything needed to compute a trained policy's inputs and scores,
without torch and without pickle (shared/DESIGN.md section 2, "Bundle").

A bundle is a folder:

- ``manifest.json``: format version, ltvrec / onnx opset / library versions at export,
  dims (state size, item vector size, item table width), slate size K, the state
  encoder's identity, the policy's provenance, and the sha256 of every file below but
  the catalogs;
- ``items.onnx``: the item table ``[N, W]`` (:mod:`ltvrec.catalog`) -> the item side of
  the scores ``prepared [N, P]`` (item tower, id bias, the signals' item columns), run
  once per catalog version;
- ``policy.onnx``: user state ``[B, S]`` and ``prepared [N, P]`` (and, for a policy that
  masks consumed items, ``consumed [B, N]``) -> scores ``[B, N]``; the observation
  standardisation and the user tower are inside the graph (opset pinned). ``N`` is free
  in both graphs, so the catalog can grow after training;
- ``state_encoder.json``: the user-state encoder's parameters (decay, block layout,
  session gap);
- ``text_map.npz``: how a new item's table row follows from its text vector;
- ``text_encoder/`` (optional, :mod:`ltvrec.serving.text`): text -> item vector, torch-free;
  a bundle without one cannot take new items;
- ``catalog/000001/``, ``catalog/000002/``, ...: catalog versions, each a folder with
  ``items.json`` (ids and texts, catalog order), ``item_table.npy`` (``[N, W]`` float32)
  and ``catalog.json`` (version, parent, the ids it added, sha256 of its files). Export
  writes version 1; ``ltvrec items add`` (or ``POST /v1/items``) writes the next one,
  atomically (a temporary folder renamed into place), and keeps every earlier one.
  Versions only append items: an item keeps its index, id and row.

:func:`read_manifest` refuses a partial, tampered or incompatible bundle with a message
that names the file and the problem; :func:`read_catalog` does the same for a catalog
version. Export needs torch (:func:`export_bundle`); reading needs only the standard
library, numpy (and onnxruntime / tokenizers to encode new texts).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ltvrec.artifacts import read_record, write_record
from ltvrec.catalog import TableLayout, TextMap
from ltvrec.encoders.state import UserStateEncoder
from ltvrec.errors import ArtifactError, ArtifactNotFoundError, InputError, LtvrecError

FORMAT_VERSION = 2
OPSET = 17
FILES = ("policy.onnx", "items.onnx", "state_encoder.json", "text_map.npz")
CATALOG_DIR = "catalog"
CATALOG_FILES = ("items.json", "item_table.npy")
CATALOG_FORMAT = 1


class BundleError(ArtifactError):
    """A bundle that cannot be served: missing files, altered files, wrong versions."""


class ItemsError(InputError):
    """Items that cannot be added (empty text, duplicate or existing ids); nothing is
    changed."""


@dataclass(frozen=True)
class Catalog:
    """One catalog version of a bundle.

    Attributes:
        version: 1 at export, +1 per ``items add``.
        item_ids: catalog index -> item id; ``texts``: the items' texts.
        table: ``[N, W]`` float32 item table (:mod:`ltvrec.catalog`).
        item_dim: ``d``, the text vector's size (the table's first ``d`` columns).
    """

    version: int
    item_ids: list[Any]
    texts: list[str]
    table: np.ndarray
    item_dim: int

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def item_embeddings(self) -> np.ndarray:
        return np.ascontiguousarray(self.table[:, : self.item_dim])


def _catalog_folder(bundle: Path, version: int) -> Path:
    return bundle / CATALOG_DIR / f"{version:06d}"


def catalog_versions(bundle: str | Path) -> list[int]:
    """The complete catalog versions in a bundle, ascending."""
    root = Path(bundle) / CATALOG_DIR
    if not root.is_dir():
        return []
    return sorted(
        int(p.name) for p in root.iterdir() if p.name.isdigit() and (p / "catalog.json").is_file()
    )


def write_catalog(
    bundle: str | Path,
    version: int,
    item_ids: list[Any],
    texts: list[str],
    table: np.ndarray,
    parent: int | None = None,
    added: list[Any] | None = None,
) -> Path:
    """Write catalog ``version`` into ``bundle`` atomically (a temporary folder beside it,
    renamed into place); refuses a version that exists."""
    bundle = Path(bundle)
    root = bundle / CATALOG_DIR
    root.mkdir(parents=True, exist_ok=True)
    final = _catalog_folder(bundle, version)
    if final.exists():
        raise BundleError(f"{final} exists: catalog version {version} was written already")
    tmp = Path(tempfile.mkdtemp(prefix=".catalog-", dir=root))
    try:
        (tmp / "items.json").write_text(json.dumps({"item_ids": item_ids, "texts": texts}))
        np.save(tmp / "item_table.npy", np.ascontiguousarray(table, dtype=np.float32))
        write_record(
            tmp,
            "catalog",
            CATALOG_FORMAT,
            list(CATALOG_FILES),
            {
                "version": version,
                "parent": parent,
                "n_items": len(item_ids),
                "added": list(added or []),
            },
        )
        tmp.rename(final)  # the version appears whole or not at all
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return final


def read_catalog(bundle: str | Path, item_dim: int, version: int | None = None) -> Catalog:
    """Catalog ``version`` of ``bundle`` (default: the newest), after checking its files."""
    bundle = Path(bundle)
    versions = catalog_versions(bundle)
    if not versions:
        raise BundleError(f"{bundle}: no catalog (catalog/000001 missing); export it again")
    v = versions[-1] if version is None else version
    if v not in versions:
        raise BundleError(f"{bundle}: no catalog version {v}; it has {versions}")
    folder = _catalog_folder(bundle, v)
    try:
        record = read_record(folder, "catalog", CATALOG_FORMAT, list(CATALOG_FILES))
    except (ArtifactError, ArtifactNotFoundError) as e:
        raise BundleError(str(e)) from None
    items = json.loads((folder / "items.json").read_text())
    table = np.load(folder / "item_table.npy", allow_pickle=False)
    if table.shape[0] != len(items["item_ids"]) or record.get("version") != v:
        raise BundleError(f"{folder}: the item table does not match items.json")
    return Catalog(v, items["item_ids"], items["texts"], table, item_dim)


def check_new_items(catalog: Catalog, items: list[dict[str, Any]]) -> tuple[list[Any], list[str]]:
    """``(ids, texts)`` of items to add, or :class:`ItemsError` naming every bad row:
    a missing or blank text, a missing id, an id given twice, an id in the catalog."""
    if not items:
        raise ItemsError("no items given")
    known = {str(i) for i in catalog.item_ids}
    seen: set[str] = set()
    problems: list[str] = []
    ids, texts = [], []
    for row, item in enumerate(items):
        item_id, text = item.get("item_id"), item.get("text")
        if item_id is None or (isinstance(item_id, str) and not item_id.strip()):
            problems.append(f"row {row}: no item_id")
            continue
        if isinstance(item_id, float) and item_id.is_integer():
            item_id = int(item_id)
        key = str(item_id)
        if not isinstance(text, str) or not text.strip():
            problems.append(f"row {row} (item {key}): empty text")
        if key in known:
            problems.append(f"row {row}: item {key} is already in the catalog")
        elif key in seen:
            problems.append(f"row {row}: item {key} is given twice")
        seen.add(key)
        ids.append(item_id)
        texts.append(text if isinstance(text, str) else "")
    if problems:
        shown = "; ".join(problems[:10]) + (
            f"; ... {len(problems) - 10} more" if len(problems) > 10 else ""
        )
        raise ItemsError(f"{len(problems)} bad item row(s), nothing added: {shown}")
    return ids, texts


def grown_catalog(
    catalog: Catalog, text_map: TextMap, encode: Any, items: list[dict[str, Any]]
) -> tuple[Catalog, list[Any]]:
    """The next catalog version: ``catalog`` plus ``items`` (``{"item_id", "text"}``)
    encoded by ``encode(texts) -> [M, d]`` and turned into table rows by ``text_map``."""
    ids, texts = check_new_items(catalog, items)
    vectors = np.asarray(encode(texts), dtype=np.float32)
    rows = text_map.rows(vectors)
    table = np.concatenate([catalog.table, rows], axis=0)
    grown = Catalog(
        catalog.version + 1,
        [*catalog.item_ids, *ids],
        [*catalog.texts, *texts],
        table,
        catalog.item_dim,
    )
    return grown, ids


def read_text_map(bundle: str | Path, manifest: dict[str, Any]) -> TextMap:
    layout = TableLayout.from_dict(manifest["item_table"])
    with np.load(Path(bundle) / "text_map.npz", allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    return TextMap.from_arrays(layout, arrays)


def export_bundle(
    policy_dir: str | Path,
    state_encoder: UserStateEncoder,
    item_ids: list[Any],
    out: str | Path,
    texts: list[str] | None = None,
    session_gap_minutes: float = 30.0,
    provenance: dict[str, Any] | None = None,
    text_encoder: Any = None,
    projection: Any = None,
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
        text_encoder: the text encoder the item vectors were made with (a
            ``TransformerTextEncoder`` is exported to ONNX, a ``HashingTextEncoder``
            recorded), and ``projection`` its PCA: the bundle can then take new items by
            their text. None: it cannot.
    """
    import onnx
    import torch as th

    from ltvrec.agents.policies import load_policy
    from ltvrec.serving.text import text_encoder_files, write_text_encoder

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

        class _Items(th.nn.Module):
            # The item side of the scores: once per catalog version, not per request.
            def __init__(self) -> None:
                super().__init__()
                self.policy = policy

            def forward(self, items: th.Tensor) -> th.Tensor:
                return self.policy.prepare_items(items)

        class _Scores(_Items):
            def forward(self, state: th.Tensor, prepared: th.Tensor) -> th.Tensor:  # type: ignore[override]
                return self.policy.scores(state, prepared=prepared)

        class _MaskedScores(_Items):
            # The consumed-item mask is applied inside the exported module (not by the
            # runtime), so the served scores are exactly the trained policy's.
            def forward(  # type: ignore[override]
                self, state: th.Tensor, prepared: th.Tensor, consumed: th.Tensor
            ) -> th.Tensor:
                return self.policy.scores(state, consumed=consumed, prepared=prepared)

        n = int(emb.shape[0])
        with th.no_grad():
            table = policy.item_table().detach().numpy().astype(np.float32)
        layout = policy.table_layout
        masked = bool(policy.mask_consumed)
        # An example catalog of another size than the trained one, so the export cannot
        # bake the trained size into either graph.
        example_items = th.as_tensor(np.concatenate([table, table[: max(1, n // 2)]]))
        m = int(example_items.shape[0])
        with th.no_grad():
            example_prepared = policy.prepare_items(example_items)
        width = int(example_prepared.shape[1])
        inputs = {
            "state": ["batch", state_dim],
            "prepared": ["n_items", width],
            **({"consumed": ["batch", "n_items"]} if masked else {}),
        }
        example = (
            th.zeros(2, state_dim),
            example_prepared,
            *((th.zeros(2, m),) if masked else ()),
        )
        axes: dict[str, dict[int, str]] = {
            "state": {0: "batch"},
            "prepared": {0: "n_items"},
            "scores": {0: "batch", 1: "n_items"},
        }
        if masked:
            axes["consumed"] = {0: "batch", 1: "n_items"}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
            th.onnx.export(
                _Items().eval(),
                (example_items,),
                str(tmp / "items.onnx"),
                input_names=["items"],
                output_names=["prepared"],
                dynamic_axes={"items": {0: "n_items"}, "prepared": {0: "n_items"}},
                opset_version=OPSET,
                dynamo=False,
            )
            th.onnx.export(
                (_MaskedScores() if masked else _Scores()).eval(),
                example,
                str(tmp / "policy.onnx"),
                input_names=list(inputs),
                output_names=["scores"],
                dynamic_axes=axes,
                opset_version=OPSET,
                dynamo=False,
            )
        onnx.checker.check_model(onnx.load(str(tmp / "items.onnx")), full_check=True)
        onnx.checker.check_model(onnx.load(str(tmp / "policy.onnx")), full_check=True)
        enc_layout = state_encoder.layout
        (tmp / "state_encoder.json").write_text(
            json.dumps(
                {
                    "decay": state_encoder.decay,
                    "engagement_decays": list(state_encoder.engagement_decays),
                    "item_dim": int(emb.shape[1]),
                    "state_size": enc_layout.size,
                    "layout": enc_layout.to_dict(),
                    "session_gap_minutes": float(session_gap_minutes),
                },
                indent=2,
            )
        )
        # A policy saved before its signals kept their text maps cannot write the rows of
        # new items: it serves, and says why it takes no items.
        no_items = None
        try:
            text_map = policy.text_map() if layout.has_signals else TextMap(layout)
        except ValueError as e:
            text_map, no_items = TextMap(TableLayout(layout.item_dim)), str(e)
        if text_encoder is not None and no_items is None and projection is not None:
            width = int(projection.components.shape[0])
            if width != text_map.text_dim:
                no_items = (
                    f"the text encoder writes vectors of {width}, this policy's new item "
                    f"rows need {text_map.text_dim} (item vectors of {layout.item_dim}"
                    + (
                        ", which carry the logs' item consequences: only a policy "
                        "trained with the baselines' signals predicts them from text)"
                        if text_map.consequence is None and width == layout.item_dim - 1
                        else ")"
                    )
                )
        np.savez(str(tmp / "text_map.npz"), **text_map.arrays())  # type: ignore[arg-type]
        files = list(FILES)
        text_spec = None
        if text_encoder is not None and no_items is None:
            text_spec = write_text_encoder(tmp, text_encoder, projection, OPSET)
            files += text_encoder_files(text_spec)
        ids = [i.item() if hasattr(i, "item") else i for i in item_ids]
        names = texts if texts is not None else [str(i) for i in ids]
        write_catalog(tmp, 1, ids, names, table, parent=None, added=None)
        if enc_layout.size != state_dim:
            raise BundleError(
                f"the policy reads {state_dim} state features, encoder {enc_layout.size}"
            )
        manifest = {
            "onnx_opset": OPSET,
            "n_items": n,
            "item_dim": int(emb.shape[1]),
            "state_size": state_dim,
            "slate_size": int(meta["slate_size"]),
            "inputs": inputs,
            "mask_consumed": masked,
            "outputs": {"scores": ["batch", "n_items"]},
            "item_table": layout.to_dict(),
            "text_encoder": text_spec,
            "no_new_items": no_items,
            "policy": {
                "source": str(policy_dir),
                "weights_sha256": meta["weights_sha256"],
                "steps": meta.get("steps"),
                "config": meta.get("config"),
                "provenance": meta.get("provenance"),
            },
        }
        write_record(tmp, "bundle", FORMAT_VERSION, files, manifest, provenance or {})
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
    items: str | Path | None = None,
) -> Path:
    """:func:`export_bundle` for a policy trained by ``ltvrec train`` (or a pipeline):
    by default on the simulator it was trained on (recorded in its ``policy.json``), so
    ``ltvrec export --policy runs/demo/ppo --out B`` needs nothing else.

    Args:
        items: the item encoding the simulator's item vectors came from (``ltvrec
            encode``'s folder, a pipeline's ``encoding/``): its text encoder and PCA go
            into the bundle, so the bundle takes new items by their text. For the known
            world it is not needed (its default item vectors are a hashing encoder + PCA
            of its titles, rebuilt here); without it a fitted simulator's bundle cannot
            take new items.
    """
    from ltvrec.agents.policies import trained_on
    from ltvrec.encoders.items import ItemEncoding, PCAProjection
    from ltvrec.encoders.text import HashingTextEncoder, encoder_from_identity
    from ltvrec.simulators.fitted import FittedSimulator, fitted_from_vectors
    from ltvrec.simulators.known_world import KnownWorld
    from ltvrec.simulators.load import load_simulator

    if env is None:
        env, trained_sim = trained_on(policy_dir)
        sim = sim if sim is not None else trained_sim
    simulator, _ = load_simulator(env, sim, world_config)
    encoder: Any = None
    projection: Any = None
    texts: list[str] | None
    if items is not None:
        # A fit with item consequences appended a column to the vectors it was given;
        # a new item's is predicted from its text (the policy's text map).
        given = (
            fitted_from_vectors(simulator)
            if isinstance(simulator, FittedSimulator)
            else simulator.item_embeddings
        )
        encoding = ItemEncoding.load(items)
        if encoding.embeddings.shape != given.shape or not np.allclose(
            encoding.embeddings, given, atol=1e-6
        ):
            raise BundleError(
                f"the item encoding in {items} is not the one the simulator's item vectors "
                "came from; give the encoding the simulator was fitted with"
            )
        encoder, projection = encoder_from_identity(encoding.identity), encoding.projection
    if isinstance(simulator, KnownWorld):
        ids, texts = list(range(simulator.n_items)), list(simulator.items.titles)
        if encoder is None:  # its default item vectors: hashing encoder + PCA of the titles
            cfg = simulator.config
            hashing = HashingTextEncoder(dim=max(64, cfg.embedding_dim), seed=cfg.seed)
            raw = hashing.encode(texts).embeddings
            pca = PCAProjection.fit(raw, simulator.item_embeddings.shape[1], cfg.seed)
            if np.allclose(pca.transform(raw), simulator.item_embeddings, atol=1e-5):
                encoder, projection = hashing, pca
    else:
        ids = list(simulator.item_ids)  # type: ignore[attr-defined]
        texts = _catalog_texts(simulator, ids)
    return export_bundle(
        policy_dir,
        simulator.state_encoder,
        ids,
        out,
        texts=texts,
        session_gap_minutes=session_gap_minutes,
        provenance={
            "env": env,
            "sim": str(sim) if sim else None,
            "items": str(items) if items else None,
        },
        text_encoder=encoder,
        projection=projection,
    )


def _catalog_texts(simulator: Any, ids: list[Any]) -> list[str] | None:
    """The items' texts for the bundle's catalog: from the data set the simulator was
    fitted on (its provenance names it) when that data set is fetched here and holds
    every id; else None (the ids stand in)."""
    from ltvrec.interactions.datasets import is_fetched, load

    name = getattr(simulator, "meta", {}).get("provenance", {}).get("dataset")
    if not isinstance(name, str):
        return None
    try:
        if not is_fetched(name):
            return None
        catalog = load(name).catalog
    except (LtvrecError, OSError, ValueError):  # unknown or damaged: the ids stand in
        return None
    by_id = dict(zip(map(str, catalog.item_ids), catalog.texts, strict=True))
    texts = [by_id.get(str(i)) for i in ids]
    return None if any(t is None for t in texts) else [str(t) for t in texts]


def read_manifest(folder: str | Path) -> dict[str, Any]:
    """The bundle's manifest, after checking every file is present and unaltered and
    that this ltvrec can serve its format.

    Raises:
        BundleError: naming the missing or altered file, or the incompatible version.
    """
    folder = Path(folder)
    try:
        header = json.loads((folder / "manifest.json").read_text())
    except (OSError, json.JSONDecodeError):
        header = {}
    files = list(FILES)
    spec = header.get("text_encoder") if isinstance(header, dict) else None
    if isinstance(spec, dict) and "kind" in spec:
        from ltvrec.serving.text import text_encoder_files

        files += text_encoder_files(spec)
    try:
        manifest = read_record(folder, "bundle", FORMAT_VERSION, files)
    except (ArtifactError, ArtifactNotFoundError) as e:
        raise BundleError(str(e)) from None
    if manifest.get("onnx_opset", 0) > OPSET:
        raise BundleError(f"{folder}: ONNX opset {manifest['onnx_opset']} is newer than {OPSET}")
    return manifest
