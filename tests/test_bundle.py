"""Portable bundles: export / import round trips, conflicts, and every bad bundle refused.

Bad bundles are hand-made from a real folder export: a file is changed and
the bundle re-sealed (checksums, sizes and the vectors' ids digest fixed up)
so that the one check under test is the one that fails.
"""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import shutil
import stat
import struct
import tarfile
import warnings
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import pytest
from click.testing import CliRunner, Result
from safetensors import safe_open
from safetensors.numpy import load as load_safetensors
from safetensors.numpy import save as save_safetensors

import memedit.bundle as bundle_module
from memedit import EditStore
from memedit.bundle import (
    EDITS,
    FORMAT_VERSION,
    MANIFEST,
    README,
    RELATIONS,
    VECTORS,
    read_bundle,
)
from memedit.cli import cli
from memedit.embedder import Embedder
from memedit.errors import BundleError, ImportConflictError, MemeditError

ROME = "The Eiffel Tower is located in Rome."
BERLIN = "The Eiffel Tower is located in Berlin."
PIANO = "Toko Yasuda plays the piano."
QUERY = "Where is the Eiffel Tower?"
DIMENSION = 384  # all-MiniLM-L6-v2


# -- helpers -----------------------------------------------------------------------


def snapshot(store: EditStore) -> list[dict[str, Any]]:
    return [e.to_dict() for e in store.edits(include_superseded=True)]


def fill_source(store: EditStore) -> dict[str, str]:
    """Three edits, one superseded: Berlin supersedes Rome."""
    rome = store.add(ROME)
    berlin = store.add(BERLIN)
    piano = store.add(PIANO)
    return {"rome": rome.id, "berlin": berlin.id, "piano": piano.id}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_records(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (folder / EDITS).read_text("utf-8").splitlines()]


def write_records(folder: Path, records: Iterable[dict[str, Any] | str]) -> None:
    lines = (r if isinstance(r, str) else json.dumps(r) for r in records)  # "\ud800" stays escaped
    (folder / EDITS).write_text("".join(line + "\n" for line in lines), "utf-8")


def vectors_metadata(folder: Path, member: str = VECTORS) -> dict[str, str]:
    with safe_open(str(folder / member), framework="numpy") as handle:
        return dict(handle.metadata() or {})


def write_vectors(
    folder: Path, array: np.ndarray, metadata: dict[str, str] | None = None, member: str = VECTORS
) -> None:
    """Replace the bundle's vectors (or relation vectors), keeping (or replacing) their
    safetensors metadata."""
    meta = vectors_metadata(folder, member) if metadata is None else metadata
    name = member.removesuffix(".safetensors")
    (folder / member).write_bytes(save_safetensors({name: array}, metadata=meta))


def bundle_vectors(folder: Path, member: str = VECTORS) -> np.ndarray:
    return load_safetensors((folder / member).read_bytes())[member.removesuffix(".safetensors")]


def reseal(
    folder: Path,
    *,
    fix_ids: bool = False,
    manifest: Callable[[dict[str, Any]], None] | None = None,
) -> None:
    """Make a hand-edited folder bundle consistent again.

    ``fix_ids`` recomputes the vectors' ``ids_sha256`` from edits.jsonl (after
    ids were changed or reordered); ``manifest`` may change manifest fields;
    then every listed file's sha256 and size are recomputed, as bundle_files does.
    """
    data = json.loads((folder / MANIFEST).read_text("utf-8"))
    if manifest is not None:
        manifest(data)
    for member in (VECTORS, RELATIONS):
        if fix_ids and (folder / member).exists():
            ids = [r["id"] for r in read_records(folder)]
            meta = vectors_metadata(folder, member)
            meta["ids_sha256"] = sha256("\n".join(ids).encode())
            write_vectors(folder, bundle_vectors(folder, member), meta, member)
    for name in list(data["files"]):
        if (folder / name).exists():
            blob = (folder / name).read_bytes()
            data["files"][name] = {"sha256": sha256(blob), "bytes": len(blob)}
    (folder / MANIFEST).write_text(json.dumps(data, indent=2) + "\n", "utf-8")


def drop_vectors(folder: Path, members: tuple[str, ...] = (VECTORS, RELATIONS)) -> None:
    """Turn a folder bundle into one without vectors, or without relation vectors (a valid
    one; relation vectors go only with vectors)."""

    def edit(m: dict[str, Any]) -> None:
        for member in members:
            (folder / member).unlink()
            del m["files"][member]
            m["counts"][member.removesuffix(".safetensors")] = 0

    reseal(folder, manifest=edit)


def zip_members(out: Path, members: Iterable[tuple[str | zipfile.ZipInfo, bytes]]) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Duplicate name" when a test wants one
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, data in members:
                archive.writestr(name, data)
    return out


def folder_members(folder: Path, skip: Iterable[str] = ()) -> list[tuple[str, bytes]]:
    return [(p.name, p.read_bytes()) for p in sorted(folder.iterdir()) if p.name not in set(skip)]


def zip_from_folder(
    folder: Path,
    out: Path,
    extra: Iterable[tuple[str | zipfile.ZipInfo, bytes]] = (),
    skip: Iterable[str] = (),
) -> Path:
    return zip_members(out, [*folder_members(folder, skip), *extra])


def tar_from_folder(
    folder: Path,
    out: Path,
    *,
    mode: str = "w",
    dot: bool = False,
    extra: Iterable[tuple[tarfile.TarInfo, bytes | None]] = (),
    skip: Iterable[str] = (),
) -> Path:
    """A tar of a folder bundle: bare member names, or the ``./name`` of ``tar -C dir .``."""
    with tarfile.open(out, mode) as archive:
        if dot:
            root = tarfile.TarInfo(".")
            root.type = tarfile.DIRTYPE
            root.mode = 0o755
            archive.addfile(root)
        for name, data in folder_members(folder, skip):
            info = tarfile.TarInfo(("./" if dot else "") + name)
            info.size = len(data)
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(data))
        for info, data in extra:
            if data is not None:
                info.size = len(data)
            archive.addfile(info, None if data is None else io.BytesIO(data))
    return out


def link_zip_info(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


def tar_info(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info


def import_cli(runner: CliRunner, path: Path, store: EditStore, *args: str) -> Result:
    return runner.invoke(cli, ["import", str(path), "--store", str(store.path), *args])


def assert_cli_error(result: Result, *fragments: str) -> str:
    """Exit status non-zero, one line ``Error: ...``, no traceback."""
    assert result.exit_code != 0, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error: "), result.output
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


# -- fixtures -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Path:
    """A folder bundle (with vectors) of a three-edit store; tests copy it, never change it."""
    root = tmp_path_factory.mktemp("pristine")
    with EditStore(root / "store") as source:
        fill_source(source)
        return source.export(root / "bundle", as_dir=True)


@pytest.fixture
def folder(pristine: Path, tmp_path: Path) -> Path:
    """A private, writable copy of the pristine folder bundle."""
    return Path(shutil.copytree(pristine, tmp_path / "bundle"))


@pytest.fixture
def source(store: EditStore) -> tuple[EditStore, dict[str, str]]:
    return store, fill_source(store)


@pytest.fixture
def target(store: EditStore) -> EditStore:
    """A store that already holds edits of its own (none of them in the pristine bundle)."""
    store.add("The Colosseum is located in Paris.")
    store.add("Danielle Darrieux speaks Japanese.")
    assert len(store) == 2
    return store


@pytest.fixture
def fresh(tmp_path: Path, embedder: Embedder) -> Iterable[EditStore]:
    with EditStore(tmp_path / "fresh") as opened:
        yield opened


# -- round trips -----------------------------------------------------------------------


def export_as(store: EditStore, kind: str, tmp_path: Path) -> Path:
    if kind == "zip":
        return store.export(tmp_path / "edits.memedit")
    folder = store.export(tmp_path / "edits", as_dir=True)
    if kind == "dir":
        return folder
    if kind == "tar":
        return tar_from_folder(folder, tmp_path / "edits.tar")
    assert kind == "tar.gz"
    return tar_from_folder(folder, tmp_path / "edits.tar.gz", mode="w:gz", dot=True)


@pytest.mark.parametrize("kind", ["zip", "dir", "tar", "tar.gz"])
def test_round_trip_keeps_every_edit_and_routes_the_same(
    source: tuple[EditStore, dict[str, str]], fresh: EditStore, tmp_path: Path, kind: str
) -> None:
    store, ids = source
    path = export_as(store, kind, tmp_path)
    if kind == "zip":
        assert zipfile.is_zipfile(path)
        with zipfile.ZipFile(path) as archive:
            assert sorted(archive.namelist()) == sorted(
                [MANIFEST, EDITS, VECTORS, RELATIONS, README]
            )

    report = fresh.import_bundle(path)

    assert not report.dry_run
    assert report.added == [e.id for e in store.edits(include_superseded=True)]
    assert set(report.added) == set(ids.values())
    assert report.unchanged == report.duplicates == report.replaced == report.skipped == []
    assert report.superseded == []  # statuses come from the bundle, nothing new to settle
    assert report.reembedded == 0  # the bundle's vectors were reused
    assert snapshot(fresh) == snapshot(store)  # ids, texts, subjects, targets, created, status
    rome = fresh.get(ids["rome"])
    assert (rome.status, rome.superseded_by) == ("superseded", ids["berlin"])
    assert fresh.get(ids["berlin"]).live and fresh.get(ids["berlin"]).target == "Berlin"
    assert fresh.get(ids["piano"]).subject == "Toko Yasuda"
    assert len(fresh) == 2
    assert fresh.stats().superseded == 1

    before, after = store.route(QUERY), fresh.route(QUERY)
    assert after.edits[0].id == before.edits[0].id == ids["berlin"]
    assert after.in_scope == before.in_scope
    assert after.edits[0].score == pytest.approx(before.edits[0].score, abs=1e-5)
    assert ids["rome"] not in {e.id for e in after.edits}  # history is not routed

    src, new = store.backend.dump(), fresh.backend.dump()
    assert [e.id for e in new.edits] == [e.id for e in src.edits]
    np.testing.assert_array_equal(new.vectors, src.vectors)
    assert src.relations is not None and new.relations is not None
    np.testing.assert_array_equal(new.relations, src.relations)

    again = fresh.import_bundle(path)
    assert again.unchanged == report.added
    assert again.added == again.duplicates == again.replaced == again.skipped == []
    assert snapshot(fresh) == snapshot(store)


def test_bundle_files_are_plain_and_consistent(
    source: tuple[EditStore, dict[str, str]], tmp_path: Path
) -> None:
    store, _ = source
    folder = store.export(tmp_path / "b", as_dir=True)
    manifest = json.loads((folder / MANIFEST).read_text())
    assert manifest["format"] == "memedit.bundle"
    assert manifest["format_version"] == 2 < FORMAT_VERSION  # relation vectors, no aliases
    assert manifest["counts"] == {"edits": 3, "live": 2, "vectors": 3, "relations": 3}
    assert manifest["embedder"]["dimension"] == DIMENSION
    assert manifest["router"] == store.config["router"]
    for name, entry in manifest["files"].items():
        blob = (folder / name).read_bytes()
        assert entry == {"sha256": sha256(blob), "bytes": len(blob)}
    assert [r["id"] for r in read_records(folder)] == [
        e.id for e in store.edits(include_superseded=True)
    ]
    vectors = bundle_vectors(folder)
    assert vectors.dtype == np.float32 and vectors.shape == (3, DIMENSION)
    assert vectors_metadata(folder)["ids_sha256"] == sha256(
        "\n".join(r["id"] for r in read_records(folder)).encode()
    )
    loaded = read_bundle(folder)
    assert [e.id for e in loaded.edits] == [r["id"] for r in read_records(folder)]
    assert loaded.vectors is not None
    np.testing.assert_array_equal(loaded.vectors, vectors)
    relations = bundle_vectors(folder, RELATIONS)
    assert relations.dtype == np.float32 and relations.shape == (3, DIMENSION)
    assert vectors_metadata(folder, RELATIONS) == {
        **vectors_metadata(folder),
        "recipe": "memedit.relation_vectors/1",
    }
    assert loaded.relations is not None and loaded.relation_recipe == "memedit.relation_vectors/1"
    np.testing.assert_array_equal(loaded.relations, relations)
    # no staging folder or temp file was left behind
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".memedit-export-")]


def test_bundle_without_vectors_is_reembedded(
    source: tuple[EditStore, dict[str, str]], fresh: EditStore, tmp_path: Path
) -> None:
    store, ids = source
    path = store.export(tmp_path / "slim.memedit", vectors=False)
    with zipfile.ZipFile(path) as archive:
        assert VECTORS not in archive.namelist() and RELATIONS not in archive.namelist()
        manifest = json.loads(archive.read(MANIFEST))
        assert manifest["counts"]["vectors"] == manifest["counts"]["relations"] == 0
        assert manifest["format_version"] == 1  # what a memedit before relation vectors reads
    assert read_bundle(path).vectors is None

    report = fresh.import_bundle(path)

    assert len(report.added) == 3
    assert report.reembedded == len(report.added)
    assert snapshot(fresh) == snapshot(store)
    np.testing.assert_allclose(fresh.backend.dump()[1], store.backend.dump()[1], atol=1e-4)
    assert fresh.route(QUERY).edits[0].id == store.route(QUERY).edits[0].id == ids["berlin"]


def test_vectors_are_reused_only_when_the_embedder_matches(
    folder: Path, tmp_path: Path, embedder: Embedder
) -> None:
    # Swap in random unit vectors: a store that reuses them stores exactly these,
    # one that re-embeds stores MiniLM's.
    originals = bundle_vectors(folder)
    noise = np.random.default_rng(0).standard_normal(originals.shape).astype(np.float32)
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    write_vectors(folder, noise)
    reseal(folder)
    with EditStore(tmp_path / "same") as same:
        report = same.import_bundle(folder)
        assert report.reembedded == 0
        np.testing.assert_array_equal(same.backend.dump()[1], noise)

    other = tmp_path / "other-embedder"
    shutil.copytree(folder, other)
    write_vectors(other, noise, {**vectors_metadata(other), "embedder": "someone/other-model"})
    relations = vectors_metadata(other, RELATIONS)
    write_vectors(
        other,
        bundle_vectors(other, RELATIONS),
        {**relations, "embedder": "someone/other-model"},
        RELATIONS,
    )

    def rename(m: dict[str, Any]) -> None:
        m["embedder"]["id"] = "someone/other-model"

    reseal(other, manifest=rename)
    with EditStore(tmp_path / "reembed") as store:
        report = store.import_bundle(other)
        assert report.reembedded == len(report.added) == 3
        np.testing.assert_allclose(store.backend.dump()[1], originals, atol=1e-4)


def _no_encoding(store: EditStore, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the import encoded edits")

    for name in ("encode", "encode_tokens"):
        monkeypatch.setattr(store.embedder, name, refuse)


def test_relation_vectors_are_reused_without_an_encoder_pass(
    folder: Path, tmp_path: Path, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bundle from a store with the same embedder carries everything routing needs:
    importing it runs the encoder on nothing, and stores the bundle's relation vectors as
    they are (random ones here, so that recomputed ones would show)."""
    relations = bundle_vectors(folder, RELATIONS)
    noise = np.random.default_rng(1).standard_normal(relations.shape).astype(np.float32)
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    write_vectors(folder, noise, member=RELATIONS)
    reseal(folder)
    with EditStore(tmp_path / "same", embedder=Embedder()) as same:
        _no_encoding(same, monkeypatch)
        report = same.import_bundle(folder)
        monkeypatch.undo()
        assert len(report.added) == 3 and report.reembedded == 0
        stored = same.backend.dump()
        assert stored.relations is not None
        np.testing.assert_array_equal(stored.relations, noise)


def test_relation_vectors_pooled_another_way_are_computed_again(
    folder: Path, tmp_path: Path, embedder: Embedder
) -> None:
    """Relation vectors from another recipe (an older or newer memedit pooling other words)
    are not this router's: the import pools its own, as if the bundle had none."""
    relations = bundle_vectors(folder, RELATIONS)
    noise = np.random.default_rng(2).standard_normal(relations.shape).astype(np.float32)
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    meta = {**vectors_metadata(folder, RELATIONS), "recipe": "memedit.relation_vectors/0"}
    write_vectors(folder, noise, meta, RELATIONS)
    reseal(folder)
    older = tmp_path / "version-1"
    shutil.copytree(folder, older)
    drop_vectors(older, (RELATIONS,))
    assert json.loads((older / MANIFEST).read_text())["counts"]["relations"] == 0
    for bundle in (folder, older):
        with EditStore(tmp_path / f"from-{bundle.name}") as fresh:
            report = fresh.import_bundle(bundle)
            assert report.reembedded == 0  # the vectors themselves are the bundle's
            stored = fresh.backend.dump()
            assert stored.relations is not None
            np.testing.assert_allclose(stored.relations, relations, atol=1e-4)


def test_relation_vectors_need_a_format_2_bundle_and_vectors(folder: Path) -> None:
    """An older memedit reads version 1 and refuses anything else: relation vectors make a
    bundle version 2, and a version 1 manifest may not list them."""
    as_version_1 = json.loads((folder / MANIFEST).read_text())
    as_version_1["format_version"] = 1
    (folder / MANIFEST).write_text(json.dumps(as_version_1))
    with pytest.raises(BundleError, match="unexpected files"):
        read_bundle(folder)
    reseal(folder, manifest=set_key("format_version", value=2))
    drop_vectors(folder, (VECTORS,))
    with pytest.raises(BundleError, match=r"needs vectors\.safetensors beside it"):
        read_bundle(folder)


def test_dry_run_writes_nothing_but_reports(
    pristine: Path, target: EditStore, runner: CliRunner
) -> None:
    before = snapshot(target)
    generation = target.config.get("generation")
    expected = [r["id"] for r in read_records(pristine)]

    report = target.import_bundle(pristine, dry_run=True)

    assert report.dry_run
    assert report.added == expected
    assert report.unchanged == report.replaced == report.skipped == []
    assert snapshot(target) == before
    assert target.config.get("generation") == generation
    assert all(e.id not in expected for e in target.route(QUERY).edits)

    result = import_cli(runner, pristine, target, "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["dry_run"] is True and data["added"] == 3
    text = import_cli(runner, pristine, target, "--dry-run")
    assert text.exit_code == 0 and text.output.startswith("Would import: 3 new"), text.output
    assert snapshot(target) == before

    done = target.import_bundle(pristine)
    assert done.added == expected
    assert len(snapshot(target)) == len(before) + 3


def test_same_fact_under_another_id_is_a_duplicate(pristine: Path, store: EditStore) -> None:
    mine = store.add(PIANO)
    report = store.import_bundle(pristine)
    records = {r["text"]: r["id"] for r in read_records(pristine)}
    assert report.duplicates == [records[PIANO]]
    assert report.added == [records[ROME], records[BERLIN]]
    assert store.get(mine.id).text == PIANO
    assert records[PIANO] not in {e.id for e in store.edits(include_superseded=True)}


def test_cli_export_and_import_round_trip(
    source: tuple[EditStore, dict[str, str]], fresh: EditStore, runner: CliRunner, tmp_path: Path
) -> None:
    store, _ = source
    out = tmp_path / "cli-bundle"
    result = runner.invoke(
        cli, ["export", str(out), "--dir", "--no-vectors", "--store", str(store.path)]
    )
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"Exported 3 edits (2 live) to {out}"
    assert not (out / VECTORS).exists()

    result = import_cli(runner, out, fresh, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert (data["added"], data["reembedded"], data["dry_run"]) == (3, 3, False)
    assert snapshot(fresh) == snapshot(store)

    again = import_cli(runner, out, fresh)
    assert again.exit_code == 0
    assert again.output.startswith("Imported: 0 new, 3 unchanged"), again.output


# -- conflicts: same id, other content ----------------------------------------------------


@pytest.fixture
def conflicting(source: tuple[EditStore, dict[str, str]], tmp_path: Path) -> Path:
    """A valid folder bundle of the source store in which the piano edit says guitar."""
    store, ids = source
    folder = store.export(tmp_path / "conflict", as_dir=True)
    records = read_records(folder)
    for record in records:
        if record["id"] == ids["piano"]:
            record["text"] = "Toko Yasuda plays the guitar."
            record["target"] = "guitar"
    write_records(folder, records)
    reseal(folder)
    read_bundle(folder)  # valid apart from the conflict
    return folder


def test_conflict_skip_keeps_the_stored_edit(
    source: tuple[EditStore, dict[str, str]], conflicting: Path, runner: CliRunner
) -> None:
    store, ids = source
    before = snapshot(store)
    report = store.import_bundle(conflicting, on_conflict="skip")
    assert report.skipped == [ids["piano"]]
    assert sorted(report.unchanged) == sorted([ids["rome"], ids["berlin"]])
    assert report.added == report.replaced == []
    assert snapshot(store) == before

    result = import_cli(runner, conflicting, store)  # skip is the default
    assert result.exit_code == 0, result.output
    assert "1 conflicts skipped" in result.output
    assert f"Conflicting ids kept as stored: {ids['piano']}" in result.output
    assert snapshot(store) == before


def test_conflict_replace_takes_the_bundles_edit(
    source: tuple[EditStore, dict[str, str]], conflicting: Path
) -> None:
    store, ids = source
    before = {e["id"]: e for e in snapshot(store)}
    report = store.import_bundle(conflicting, on_conflict="replace")
    assert report.replaced == [ids["piano"]]
    assert report.added == report.skipped == []
    assert report.reembedded == 0
    replaced = store.get(ids["piano"])
    assert (replaced.text, replaced.target, replaced.status) == (
        "Toko Yasuda plays the guitar.",
        "guitar",
        "live",
    )
    after = {e["id"]: e for e in snapshot(store)}
    assert set(after) == set(before)
    assert after[ids["rome"]] == before[ids["rome"]]
    assert after[ids["berlin"]] == before[ids["berlin"]]
    top = store.route("What instrument does Toko Yasuda play?").edits[0]
    assert (top.id, top.text) == (ids["piano"], "Toko Yasuda plays the guitar.")
    assert store.import_bundle(conflicting).unchanged == [e["id"] for e in snapshot(store)]


def test_conflict_fail_changes_nothing(
    source: tuple[EditStore, dict[str, str]], conflicting: Path, runner: CliRunner
) -> None:
    store, ids = source
    before = snapshot(store)
    with pytest.raises(ImportConflictError, match=ids["piano"]):
        store.import_bundle(conflicting, on_conflict="fail")
    assert snapshot(store) == before
    with pytest.raises(ImportConflictError):
        store.import_bundle(conflicting, on_conflict="fail", dry_run=True)
    assert snapshot(store) == before

    result = import_cli(runner, conflicting, store, "--on-conflict", "fail")
    assert_cli_error(result, ids["piano"], "nothing was imported")
    assert snapshot(store) == before


# -- bad bundles -----------------------------------------------------------------------

Builder = Callable[[Path, Path], Path]  # (writable folder bundle, scratch dir) -> bad bundle


def truncated_zip(folder: Path, tmp: Path) -> Path:
    whole = zip_from_folder(folder, tmp / "whole.memedit").read_bytes()
    out = tmp / "half.memedit"
    out.write_bytes(whole[: len(whole) // 2])
    return out


def truncated_zip_tail(folder: Path, tmp: Path) -> Path:
    """Cut off only the last bytes: the archive still looks like a zip at first."""
    whole = zip_from_folder(folder, tmp / "whole.memedit").read_bytes()
    out = tmp / "cut.memedit"
    out.write_bytes(whole[:-10])
    return out


def corrupt_zip_data(folder: Path, tmp: Path) -> Path:
    """The central directory is intact but edits.jsonl's compressed bytes are damaged."""
    path = zip_from_folder(folder, tmp / "corrupt.memedit")
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(EDITS)
    raw = bytearray(path.read_bytes())
    name_len, extra_len = struct.unpack(
        "<HH", raw[info.header_offset + 26 : info.header_offset + 30]
    )
    start = info.header_offset + 30 + name_len + extra_len
    for offset in range(info.compress_size // 3, info.compress_size // 2):
        raw[start + offset] ^= 0xFF
    path.write_bytes(bytes(raw))
    return path


def truncated_tar(at: Callable[[tarfile.TarInfo], int]) -> Builder:
    """A tar cut inside its content (tar pads to 10 KiB records: halving may cut only zeros)."""

    def build(folder: Path, tmp: Path) -> Path:
        path = tar_from_folder(folder, tmp / "whole.tar")
        with tarfile.open(path) as archive:
            last = archive.getmembers()[-1]
        assert last.name == VECTORS
        out = tmp / "cut.tar"
        out.write_bytes(path.read_bytes()[: at(last)])
        return out

    return build


def truncated_tar_gz(folder: Path, tmp: Path) -> Path:
    whole = tar_from_folder(folder, tmp / "whole.tar.gz", mode="w:gz").read_bytes()
    out = tmp / "half.tar.gz"
    out.write_bytes(whole[: len(whole) // 2])
    return out


def flip_a_byte(data: bytes, old: bytes = b"Berlin", new: bytes = b"Berlim") -> bytes:
    assert old in data and len(old) == len(new)
    return data.replace(old, new, 1)


def tampered_folder(folder: Path, tmp: Path) -> Path:
    (folder / EDITS).write_bytes(flip_a_byte((folder / EDITS).read_bytes()))
    return folder


def tampered_zip(folder: Path, tmp: Path) -> Path:
    return zip_from_folder(tampered_folder(folder, tmp), tmp / "tampered.memedit")


def tampered_tar(folder: Path, tmp: Path) -> Path:
    return tar_from_folder(tampered_folder(folder, tmp), tmp / "tampered.tar")


def tampered_vectors(folder: Path, tmp: Path) -> Path:
    raw = bytearray((folder / VECTORS).read_bytes())
    raw[-1] ^= 0x01
    (folder / VECTORS).write_bytes(bytes(raw))
    return zip_from_folder(folder, tmp / "tampered.memedit")


def size_mismatch(folder: Path, tmp: Path) -> Path:
    (folder / EDITS).write_bytes((folder / EDITS).read_bytes() + b"\n")
    return folder


def manifest_with(change: Callable[[dict[str, Any]], None]) -> Builder:
    def build(folder: Path, tmp: Path) -> Path:
        data = json.loads((folder / MANIFEST).read_text())
        change(data)
        (folder / MANIFEST).write_text(json.dumps(data))
        return zip_from_folder(folder, tmp / "manifest.memedit")

    return build


def set_key(*path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        for key in path[:-1]:
            data = data[key]
        data[path[-1]] = value

    return change


def manifest_not_json(folder: Path, tmp: Path) -> Path:
    (folder / MANIFEST).write_text("{not json")
    return folder


def no_manifest(folder: Path, tmp: Path) -> Path:
    return zip_from_folder(folder, tmp / "headless.memedit", skip=[MANIFEST])


def listed_but_missing(folder: Path, tmp: Path) -> Path:
    (folder / README).unlink()
    return folder


def zip_extra(name: str, data: bytes = b"hello") -> Builder:
    def build(folder: Path, tmp: Path) -> Path:
        return zip_from_folder(folder, tmp / "extra.memedit", extra=[(name, data)])

    return build


def zip_symlink(folder: Path, tmp: Path) -> Path:
    return zip_from_folder(
        folder, tmp / "link.memedit", skip=[README], extra=[(link_zip_info(README), b"/etc/passwd")]
    )


def zip_duplicate(folder: Path, tmp: Path) -> Path:
    return zip_from_folder(
        folder, tmp / "twice.memedit", extra=[(EDITS, (folder / EDITS).read_bytes())]
    )


def zip_unlisted_vectors(folder: Path, tmp: Path) -> Path:
    """A member the manifest does not list: vectors added to a bundle made without them."""
    vectors = (folder / VECTORS).read_bytes()
    drop_vectors(folder)
    return zip_from_folder(folder, tmp / "unlisted.memedit", extra=[(VECTORS, vectors)])


def zip_unknown_compression(folder: Path, tmp: Path) -> Path:
    path = zip_from_folder(folder, tmp / "odd.memedit")
    raw = bytearray(path.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
        at = raw.find(signature)
        while at >= 0:
            raw[at + offset : at + offset + 2] = struct.pack("<H", 99)
            at = raw.find(signature, at + 4)
    path.write_bytes(bytes(raw))
    return path


def zip_encrypted(folder: Path, tmp: Path) -> Path:
    path = zip_from_folder(folder, tmp / "locked.memedit")
    raw = bytearray(path.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = raw.find(signature)
        while at >= 0:
            raw[at + offset] |= 0x01
            at = raw.find(signature, at + 4)
    path.write_bytes(bytes(raw))
    return path


def tar_extra(info: tarfile.TarInfo, data: bytes | None = b"x", **kwargs: Any) -> Builder:
    def build(folder: Path, tmp: Path) -> Path:
        return tar_from_folder(folder, tmp / "extra.tar", extra=[(info, data)], **kwargs)

    return build


def tar_symlink(folder: Path, tmp: Path) -> Path:
    link = tar_info(README, tarfile.SYMTYPE, "/etc/passwd")
    return tar_from_folder(folder, tmp / "link.tar", skip=[README], extra=[(link, None)])


def tar_hardlink(folder: Path, tmp: Path) -> Path:
    link = tar_info(README, tarfile.LNKTYPE, EDITS)
    return tar_from_folder(folder, tmp / "hard.tar", skip=[README], extra=[(link, None)])


def tar_too_many(folder: Path, tmp: Path) -> Path:
    extra = [(tar_info(".", tarfile.DIRTYPE), None) for _ in range(12)]
    return tar_from_folder(folder, tmp / "many.tar", extra=extra)


def folder_with_link(folder: Path, tmp: Path) -> Path:
    (folder / README).unlink()
    (folder / README).symlink_to("/etc/passwd")
    return folder


def with_vectors(
    make: Callable[[np.ndarray], np.ndarray],
    member: str = VECTORS,
    metadata: dict[str, str] | None = None,
) -> Builder:
    """Vectors (or relation vectors) changed by ``make``, and their metadata by ``metadata``,
    the bundle re-sealed so only the vector check can fail."""

    def build(folder: Path, tmp: Path) -> Path:
        meta = {**vectors_metadata(folder, member), **(metadata or {})}
        write_vectors(folder, make(bundle_vectors(folder, member)), meta, member)
        reseal(folder)
        return zip_from_folder(folder, tmp / "vectors.memedit")

    return build


def with_nan(vectors: np.ndarray) -> np.ndarray:
    vectors = vectors.copy()
    vectors[1, 7] = np.nan
    return vectors


def with_records(change: Callable[[list[dict[str, Any]]], list[Any]], **seal: Any) -> Builder:
    """edits.jsonl changed by ``change``, the bundle re-sealed (checksums and sizes fixed)."""

    def build(folder: Path, tmp: Path) -> Path:
        write_records(folder, change(read_records(folder)))
        reseal(folder, **seal)
        return folder

    return build


def edit_line(number: int, **fields: Any) -> Callable[[list[dict[str, Any]]], list[Any]]:
    def change(records: list[dict[str, Any]]) -> list[Any]:
        records[number - 1].update(fields)
        return records

    return change


def vectors_not_safetensors(folder: Path, tmp: Path) -> Path:
    (folder / VECTORS).write_bytes(struct.pack("<Q", 8) + b"garbage!")
    reseal(folder)
    return folder


def vectors_counted_but_absent(folder: Path, tmp: Path) -> Path:
    (folder / VECTORS).unlink()
    reseal(folder, manifest=lambda m: m["files"].pop(VECTORS))  # counts.vectors stays 3
    return folder


def edits_not_utf8(folder: Path, tmp: Path) -> Path:
    (folder / EDITS).write_bytes(b"\xff\xfe" + (folder / EDITS).read_bytes())
    reseal(folder)
    return folder


def random_bytes(folder: Path, tmp: Path) -> Path:
    out = tmp / "noise.memedit"
    out.write_bytes(np.random.default_rng(1).bytes(4096))
    return out


def missing_path(folder: Path, tmp: Path) -> Path:
    return tmp / "nowhere" / "bundle.memedit"


def empty_folder(folder: Path, tmp: Path) -> Path:
    (tmp / "empty").mkdir()
    return tmp / "empty"


BAD_BUNDLES: list[tuple[str, Builder, tuple[str, ...]]] = [
    # damaged archives
    ("truncated-zip", truncated_zip, ()),
    ("truncated-zip-tail", truncated_zip_tail, ()),
    ("corrupt-zip-data", corrupt_zip_data, ("truncated or corrupt",)),
    ("truncated-tar-in-vectors", truncated_tar(lambda m: m.offset_data + m.size // 2), ()),
    ("truncated-tar-mid-content", truncated_tar(lambda m: (m.offset_data + m.size) // 2), ()),
    ("truncated-tar-gz", truncated_tar_gz, ()),
    ("random-bytes", random_bytes, ("not a memedit bundle",)),
    ("missing-path", missing_path, ("no such bundle",)),
    ("empty-folder", empty_folder, ("no manifest.json",)),
    # checksums and sizes
    ("tampered-edits-folder", tampered_folder, ("edits.jsonl", "sha256")),
    ("tampered-edits-zip", tampered_zip, ("edits.jsonl", "sha256")),
    ("tampered-edits-tar", tampered_tar, ("edits.jsonl", "sha256")),
    ("tampered-vectors", tampered_vectors, ("vectors.safetensors", "sha256")),
    ("size-mismatch", size_mismatch, ("edits.jsonl", "the manifest says")),
    # the manifest
    ("format-99", manifest_with(set_key("format_version", value=99)), ("newer", "upgrade")),
    ("format-as-text", manifest_with(set_key("format_version", value="99")), ("format_version",)),
    ("format-as-float", manifest_with(set_key("format_version", value=1.5)), ("format_version",)),
    ("not-a-bundle-manifest", manifest_with(set_key("format", value="zip")), ("not describe",)),
    ("manifest-extra-field", manifest_with(set_key("files", EDITS, "x", value=1)), ("manifest",)),
    ("manifest-bad-sha", manifest_with(set_key("files", EDITS, "sha256", value="0" * 63)), ()),
    ("manifest-not-json", manifest_not_json, ("not valid JSON",)),
    ("no-manifest", no_manifest, ("no manifest.json",)),
    ("listed-but-missing", listed_but_missing, ("README.md", "missing")),
    (
        "manifest-lists-foreign-file",
        manifest_with(set_key("files", "evil.sh", value={"sha256": "0" * 64, "bytes": 1})),
        ("unexpected files",),
    ),
    # member names and kinds
    ("zip-absolute", zip_extra("/etc/passwd"), ("absolute path",)),
    ("zip-windows-absolute", zip_extra("C:/Windows/evil.dll"), ("absolute path",)),
    ("zip-dotdot", zip_extra("../evil"), ("outside the bundle",)),
    ("zip-nested-dotdot", zip_extra("docs/../../evil"), ("outside the bundle",)),
    ("zip-symlink", zip_symlink, ("is a link",)),
    ("zip-extra-member", zip_extra("notes.txt"), ("unexpected member",)),
    ("zip-directory", zip_extra("docs/", b""), ("unexpected member",)),
    ("zip-duplicate", zip_duplicate, ("appears twice",)),
    ("zip-unlisted-member", zip_unlisted_vectors, ("not listed in the manifest",)),
    ("zip-unknown-compression", zip_unknown_compression, ("cannot read",)),
    ("zip-encrypted", zip_encrypted, ("cannot read",)),
    ("tar-absolute", tar_extra(tar_info("/etc/passwd")), ("absolute path",)),
    ("tar-dotdot", tar_extra(tar_info("../evil")), ("outside the bundle",)),
    ("tar-symlink", tar_symlink, ("is a link",)),
    ("tar-hardlink", tar_hardlink, ("is a link",)),
    ("tar-extra-member", tar_extra(tar_info("notes.txt")), ("unexpected member",)),
    ("tar-fifo", tar_extra(tar_info("fifo", tarfile.FIFOTYPE), None), ("unexpected member",)),
    ("tar-too-many-members", tar_too_many, ("too many members",)),
    ("folder-symlink-member", folder_with_link, ("is a link",)),
    # vectors (re-sealed: the vector check itself must catch these)
    (
        "vectors-wrong-width",
        with_vectors(lambda v: np.ascontiguousarray(v[:, :10])),
        ("shape (3, 10)",),
    ),
    ("vectors-wrong-rows", with_vectors(lambda v: v[:2].copy()), ("shape (2, 384)",)),
    ("vectors-float64", with_vectors(lambda v: v.astype(np.float64)), ("float64",)),
    ("vectors-nan", with_vectors(with_nan), ("NaN",)),
    ("vectors-inf", with_vectors(lambda v: np.where(v == v.max(), np.inf, v)), ("infinite",)),
    ("vectors-not-unit", with_vectors(lambda v: v * 2), ("unit length",)),
    ("vectors-not-safetensors", vectors_not_safetensors, ("not a valid safetensors",)),
    (
        "vectors-for-other-order",
        with_records(lambda r: [r[1], r[0], r[2]]),  # ids digest no longer matches
        ("does not belong",),
    ),
    (
        "vectors-count-mismatch",
        manifest_with(set_key("counts", "vectors", value=2)),
        ("2 vectors for 3 edits",),
    ),
    ("vectors-counted-but-absent", vectors_counted_but_absent, ("no vectors.safetensors",)),
    (
        "relations-wrong-rows",
        with_vectors(lambda v: v[:2].copy(), RELATIONS),
        ("relations have shape (2, 384)",),
    ),
    ("relations-nan", with_vectors(with_nan, RELATIONS), ("relations contain NaN",)),
    ("relations-not-unit", with_vectors(lambda v: v * 2, RELATIONS), ("unit length",)),
    (
        "relations-for-other-embedder",
        with_vectors(lambda v: v, RELATIONS, {"embedder": "someone/other-model"}),
        ("relations.safetensors does not belong",),
    ),
    (
        "relations-without-recipe",
        with_vectors(lambda v: v, RELATIONS, {"recipe": ""}),
        ("the recipe that pooled it",),
    ),
    (
        "relations-count-mismatch",
        manifest_with(set_key("counts", "relations", value=1)),
        ("1 relations for 3 edits",),
    ),
    # edits.jsonl
    ("fewer-lines-than-counted", with_records(lambda r: r[:2]), ("has 2 edits", "says 3")),
    ("more-counted-than-lines", manifest_with(set_key("counts", "edits", value=4)), ("says 4",)),
    ("duplicate-id", with_records(lambda r: [*r[:2], r[0]]), ("line 3", "duplicate id")),
    ("empty-text", with_records(edit_line(2, text="")), ("edits.jsonl line 2",)),
    ("bad-json-line", with_records(lambda r: [r[0], "{oops", r[2]]), ("line 2", "invalid JSON")),
    ("not-an-object", with_records(lambda r: [r[0], r[1], "[1, 2]"]), ("line 3",)),
    ("missing-id", with_records(edit_line(1, id=None)), ("line 1", "'id'")),
    ("bad-id", with_records(edit_line(1, id="not-a-ulid"), fix_ids=True), ("line 1", "ULID")),
    ("bad-created", with_records(edit_line(2, created="yesterday")), ("line 2", "ISO-8601")),
    ("bad-status", with_records(edit_line(3, status="deleted")), ("line 3", "status")),
    ("tags-not-a-list", with_records(edit_line(3, tags=5)), ("line 3",)),
    ("lone-surrogate", with_records(edit_line(1, source="\ud800")), ("line 1",)),
    ("not-utf8", edits_not_utf8, ("not UTF-8",)),
]


@pytest.mark.parametrize(
    ("build", "fragments"),
    [pytest.param(b, f, id=name) for name, b, f in BAD_BUNDLES],
)
def test_bad_bundle_is_refused_and_changes_nothing(
    build: Builder,
    fragments: tuple[str, ...],
    folder: Path,
    target: EditStore,
    runner: CliRunner,
    tmp_path: Path,
) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    bad = build(folder, scratch)
    before = snapshot(target)

    with pytest.raises(BundleError) as caught:
        read_bundle(bad)
    message = str(caught.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message
    with pytest.raises(BundleError):
        target.import_bundle(bad, on_conflict="replace")
    assert snapshot(target) == before

    line = assert_cli_error(import_cli(runner, bad, target, "--on-conflict", "replace"))
    assert line == f"Error: {message}"
    assert snapshot(target) == before
    assert_cli_error(import_cli(runner, bad, target, "--dry-run"))
    assert snapshot(target) == before


def test_helpers_make_valid_bundles(folder: Path, tmp_path: Path) -> None:
    """Re-sealing, zipping and tarring are sound: a bad-bundle case fails only where it breaks."""
    reseal(folder, fix_ids=True)
    assert len(read_bundle(folder).edits) == 3
    assert len(read_bundle(zip_from_folder(folder, tmp_path / "ok.memedit")).edits) == 3
    assert len(read_bundle(tar_from_folder(folder, tmp_path / "ok.tar")).edits) == 3
    assert len(read_bundle(tar_from_folder(folder, tmp_path / "ok.tgz", mode="w:gz")).edits) == 3
    # reordered lines are fine once the vectors' ids digest is fixed up
    write_records(folder, list(reversed(read_records(folder))))
    reseal(folder, fix_ids=True)
    assert [e.id for e in read_bundle(folder).edits] == [r["id"] for r in read_records(folder)]
    drop_vectors(folder)
    assert read_bundle(folder).vectors is None


# -- exporting -----------------------------------------------------------------------


@pytest.mark.parametrize("as_dir", [False, True], ids=["zip", "dir"])
def test_export_refuses_to_overwrite_without_force(
    source: tuple[EditStore, dict[str, str]], tmp_path: Path, runner: CliRunner, as_dir: bool
) -> None:
    store, _ = source
    path = store.export(tmp_path / "out", as_dir=as_dir)
    first = read_bundle(path)

    def contents() -> dict[str, bytes]:
        if as_dir:
            return {p.name: p.read_bytes() for p in path.iterdir()}
        return {"zip": path.read_bytes()}

    written = contents()
    store.add("Danielle Darrieux speaks Japanese.")
    with pytest.raises(BundleError, match="already exists"):
        store.export(path, as_dir=as_dir)
    assert contents() == written

    args = ["export", str(path), "--store", str(store.path), *(["--dir"] if as_dir else [])]
    assert_cli_error(runner.invoke(cli, args), "already exists", "--force")
    assert contents() == written

    # the other kind of export never replaces this one, even with --force
    with pytest.raises(BundleError, match="choose another path"):
        store.export(path, as_dir=not as_dir, overwrite=True)
    assert contents() == written

    store.export(path, as_dir=as_dir, overwrite=True)
    assert len(read_bundle(path).edits) == len(first.edits) + 1
    result = runner.invoke(cli, [*args, "--force"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"Exported 4 edits (3 live) to {path}"
    assert len(read_bundle(path).edits) == 4
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".memedit-export-")]


def test_force_replaces_only_a_bundle_folder(
    source: tuple[EditStore, dict[str, str]], tmp_path: Path, runner: CliRunner
) -> None:
    """--dir --force must not rmtree a store, a home folder or anything else that is not a bundle."""
    store, ids = source
    before = snapshot(store)
    store_files = sorted(p.name for p in store.path.iterdir())
    with pytest.raises(BundleError, match="not a bundle folder"):
        store.export(store.path, as_dir=True, overwrite=True)
    result = runner.invoke(
        cli, ["export", str(store.path), "--dir", "--force", "--store", str(store.path)]
    )
    assert_cli_error(result, "not a bundle folder")
    assert sorted(p.name for p in store.path.iterdir()) == store_files
    assert snapshot(store) == before
    assert store.route(QUERY).edits[0].id == ids["berlin"]

    mixed = store.export(tmp_path / "mixed", as_dir=True)
    (mixed / "notes.txt").write_text("mine")
    with pytest.raises(BundleError, match=r"notes\.txt"):
        store.export(mixed, as_dir=True, overwrite=True)
    assert (mixed / "notes.txt").read_text() == "mine"

    linked = tmp_path / "linked"
    linked.symlink_to(store.export(tmp_path / "real", as_dir=True), target_is_directory=True)
    with pytest.raises(BundleError, match="a link"):
        store.export(linked, as_dir=True, overwrite=True)

    empty = tmp_path / "empty"
    empty.mkdir()
    assert len(read_bundle(store.export(empty, as_dir=True, overwrite=True)).edits) == 3
    assert len(read_bundle(store.export(empty, as_dir=True, overwrite=True)).edits) == 3


# -- known bugs outside bundle.py ----------------------------------------------------------


def test_imported_history_points_at_an_edit_the_store_holds(
    pristine: Path, store: EditStore
) -> None:
    mine = store.add(BERLIN)  # the same fact as the bundle's Berlin, under another id
    report = store.import_bundle(pristine)
    assert len(report.duplicates) == 1
    stored = {e.id: e for e in store.edits(include_superseded=True)}
    rome = next(e for e in stored.values() if e.text == ROME)
    assert rome.status == "superseded"
    assert rome.superseded_by in stored, f"{rome.superseded_by} is not in the store"
    store.remove([mine.id])  # removing the newer fact must revive the older one
    assert store.get(rome.id).live


@pytest.mark.parametrize("dry_run", [False, True], ids=["import", "dry-run"])
def test_refused_import_creates_no_store(
    runner: CliRunner, tmp_path: Path, embedder: Embedder, dry_run: bool
) -> None:
    bad = random_bytes(tmp_path, tmp_path)
    new_store = tmp_path / "new-store"
    args = ["import", str(bad), "--store", str(new_store), *(["--dry-run"] if dry_run else [])]
    assert_cli_error(runner.invoke(cli, args), "not a memedit bundle")
    assert not new_store.exists()


# -- nothing executable is ever read from a bundle ------------------------------------------


def test_faiss_index_member_is_rejected(folder: Path, target: EditStore, tmp_path: Path) -> None:
    bad = zip_from_folder(folder, tmp_path / "faiss.memedit", extra=[("index.faiss", b"\0" * 64)])
    before = snapshot(target)
    with pytest.raises(BundleError, match=r"unexpected member 'index\.faiss'"):
        target.import_bundle(bad)
    assert snapshot(target) == before
    pickled = zip_from_folder(
        folder, tmp_path / "pickle.memedit", extra=[("edits.pkl", pickle.dumps({"a": 1}))]
    )
    with pytest.raises(BundleError, match=r"unexpected member 'edits\.pkl'"):
        target.import_bundle(pickled)
    assert snapshot(target) == before


def test_reading_a_bundle_never_unpickles_or_loads_faiss(
    folder: Path, fresh: EditStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A folder bundle may sit next to other files (a Hub snapshot): they are ignored.
    (folder / "index.faiss").write_bytes(b"\0" * 64)
    (folder / "edits.pkl").write_bytes(pickle.dumps({"a": 1}))
    paths = [
        folder,
        zip_from_folder(folder, tmp_path / "b.memedit", skip=["index.faiss", "edits.pkl"]),
        tar_from_folder(folder, tmp_path / "b.tar", skip=["index.faiss", "edits.pkl"]),
    ]
    faiss_reads: list[str] = []
    real_read_index = faiss.read_index

    def spy(path: Any, *args: Any) -> Any:
        faiss_reads.append(str(path))
        return real_read_index(path, *args)

    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a bundle must never be unpickled")

    monkeypatch.setattr(faiss, "read_index", spy)
    monkeypatch.setattr(pickle, "load", forbidden)
    monkeypatch.setattr(pickle, "loads", forbidden)
    monkeypatch.setattr(np, "load", forbidden)
    for path in paths:
        assert len(read_bundle(path).edits) == 3
    report = fresh.import_bundle(folder)
    assert len(report.added) == 3
    fresh.route(QUERY)
    # the only FAISS file read is the importing store's own cache
    assert all(Path(p).parent == fresh.path for p in faiss_reads), faiss_reads


def test_import_refuses_unknown_on_conflict(pristine: Path, target: EditStore) -> None:
    before = snapshot(target)
    with pytest.raises(MemeditError, match="on_conflict must be one of"):
        target.import_bundle(pristine, on_conflict="merge")  # type: ignore[arg-type]
    assert snapshot(target) == before


@pytest.mark.parametrize("kind", ["dir", "zip", "tar"])
def test_members_are_read_by_their_declared_size_not_the_cap(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """A buffered read(n) allocates n bytes up front; the caps (4 and 32 GiB) must not be n."""
    path = {
        "dir": lambda: folder,
        "zip": lambda: zip_from_folder(folder, tmp_path / "b.memedit"),
        "tar": lambda: tar_from_folder(folder, tmp_path / "b.tar"),
    }[kind]()
    limits: dict[str, int] = {}
    for reader in (bundle_module._DirReader, bundle_module._ZipReader, bundle_module._TarReader):
        original = reader._read

        def spy(self: Any, name: str, limit: int, _original: Any = original) -> bytes:
            limits[name] = limit
            return _original(self, name, limit)

        monkeypatch.setattr(reader, "_read", spy)
    loaded = read_bundle(path)
    assert len(loaded.edits) == 3 and loaded.vectors is not None
    sizes = {name: entry.bytes for name, entry in loaded.manifest.files.items()}
    sizes[MANIFEST] = (folder / MANIFEST).stat().st_size
    assert limits == {name: size + 1 for name, size in sizes.items()}


def test_member_larger_than_declared_is_refused(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A member that grows between listing and reading (or lies about its size) is refused."""
    real_init = bundle_module._DirReader.__init__

    def grow_after_listing(self: Any, where: Path) -> None:
        real_init(self, where)
        with open(where / EDITS, "ab") as handle:
            handle.write(b"\n")

    monkeypatch.setattr(bundle_module._DirReader, "__init__", grow_after_listing)
    with pytest.raises(BundleError, match=r"not the .* bytes its entry declares"):
        read_bundle(folder)
