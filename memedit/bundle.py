"""The portable edit bundle: one file (or folder) that carries an edit store.

A bundle holds::

    manifest.json         format name and version, memedit version, embedder id and
                          dimension, counts, router settings, sha256 and size of every file
    edits.jsonl           one edit per line in memedit's schema (readable, diffable)
    vectors.safetensors   optional: float32 [n_edits, dimension], row i for line i
    relations.safetensors optional, beside the vectors (format version 2): each edit's
                          relation vector (:mod:`memedit.relation_vectors`), row i for line i
    README.md             optional: a human-readable card (shown on the Hugging Face Hub)

written as a zip (``.memedit``) or as a folder (format version 3 holds the same files, with
edits that carry aliases of their subject). Reading is defensive: every
check runs before a store is touched — member names (no absolute paths, no
``..``, no links), sizes and caps, checksums, schema, vector shapes. Nothing
is unpickled and no FAISS file is ever read from a bundle: the importing
store rebuilds its index from these plain data.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from safetensors import SafetensorError
from safetensors.numpy import load as load_safetensors
from safetensors.numpy import save as save_safetensors

from memedit.edits import Edit, edit_from_record, utc_now
from memedit.errors import BundleError, MemeditError

FORMAT_NAME = "memedit.bundle"
FORMAT_VERSION = 3  # the newest this memedit reads and writes
MANIFEST = "manifest.json"
EDITS = "edits.jsonl"
VECTORS = "vectors.safetensors"
RELATIONS = "relations.safetensors"
README = "README.md"
MEMBERS = (MANIFEST, EDITS, VECTORS, RELATIONS, README)
# The files each format version may hold. Version 2 added relations.safetensors; a bundle
# without it is still written as version 1, which older memedits read. Version 3 holds the
# same files, with edits that carry aliases of their subject (which older memedits would
# drop); a bundle without any is written as version 1 or 2.
VERSION_MEMBERS = {1: (MANIFEST, EDITS, VECTORS, README), 2: MEMBERS, 3: MEMBERS}

MAX_BUNDLE_EDITS = 5_000_000
MAX_DIMENSION = 8192
SIZE_CAPS = {
    MANIFEST: 1 << 20,
    README: 1 << 20,
    EDITS: 4 << 30,
    VECTORS: 32 << 30,
    RELATIONS: 32 << 30,
}
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class FileEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sha256: str = Field(pattern=_SHA256.pattern)
    bytes: int = Field(ge=0)


class EmbedderInfo(BaseModel):
    id: str = Field(min_length=1, max_length=1024)
    dimension: int = Field(ge=1, le=MAX_DIMENSION)
    normalize: bool = True


class Counts(BaseModel):
    edits: int = Field(ge=0, le=MAX_BUNDLE_EDITS)
    live: int = Field(ge=0, le=MAX_BUNDLE_EDITS)
    vectors: int = Field(ge=0, le=MAX_BUNDLE_EDITS)
    relations: int = Field(default=0, ge=0, le=MAX_BUNDLE_EDITS)


class Manifest(BaseModel):
    """``manifest.json``: what a bundle holds and how to check it."""

    format: Literal["memedit.bundle"]
    format_version: int = Field(ge=1, strict=True)  # "99", 2.0 or true must not pass as 1
    memedit_version: str
    created: str
    embedder: EmbedderInfo
    counts: Counts
    files: dict[str, FileEntry]
    router: dict[str, Any] | None = None


@dataclass
class EditBundle:
    """A bundle read into memory and fully checked."""

    manifest: Manifest
    edits: list[Edit]
    vectors: np.ndarray | None  # None when the bundle carries none
    relations: np.ndarray | None = None  # relation vectors; None when the bundle carries none
    relation_recipe: str | None = None  # how they were pooled (relation_vectors.RECIPE)


# -- writing ---------------------------------------------------------------------


def _ids_digest(edits: Sequence[Edit]) -> str:
    return hashlib.sha256("\n".join(e.id for e in edits).encode()).hexdigest()


def _card(manifest: dict[str, Any]) -> str:
    counts = manifest["counts"]
    return (
        "---\ntags:\n- memedit\n- knowledge-editing\n---\n\n"
        "# memedit edit bundle\n\n"
        f"{counts['edits']} edits ({counts['live']} live), embedded with `{manifest['embedder']['id']}`.\n\n"
        "Import into a local store with:\n\n"
        "```\nmemedit pull <this repo id>        # from the Hub\n"
        "memedit import <folder or file>    # from a copy\n```\n\n"
        "`edits.jsonl` lists every edit (id, text, subject, prompt, target, created, status).\n"
    )


def bundle_files(
    edits: Sequence[Edit],
    vectors: np.ndarray | None,
    *,
    embedder: dict[str, Any],
    router: dict[str, Any] | None,
    memedit_version: str,
    relations: np.ndarray | None = None,
    relation_recipe: str | None = None,
) -> dict[str, bytes]:
    """The bundle's files as bytes, manifest last (it checksums the others). ``relations``
    (with ``vectors`` only, and the ``relation_recipe`` that pooled them) makes a version 2
    bundle; without them it is version 1; edits with aliases make it version 3."""
    files: dict[str, bytes] = {
        EDITS: "".join(json.dumps(e.to_dict(), ensure_ascii=False) + "\n" for e in edits).encode(
            "utf-8"
        )
    }
    if vectors is not None:
        if vectors.shape != (len(edits), int(embedder["dimension"])):
            raise ValueError("one vector of the embedder's dimension per edit")
        files[VECTORS] = save_safetensors(
            {"vectors": np.ascontiguousarray(vectors, dtype=np.float32)},
            metadata={"embedder": str(embedder["id"]), "ids_sha256": _ids_digest(edits)},
        )
    if relations is not None:
        if vectors is None or relations.shape != vectors.shape or not relation_recipe:
            raise ValueError("relation vectors go with vectors, one per edit, and their recipe")
        files[RELATIONS] = save_safetensors(
            {"relations": np.ascontiguousarray(relations, dtype=np.float32)},
            metadata={
                "embedder": str(embedder["id"]),
                "ids_sha256": _ids_digest(edits),
                "recipe": relation_recipe,
            },
        )
    manifest: dict[str, Any] = {
        "format": FORMAT_NAME,
        "format_version": _format_version(edits, relations is not None),
        "memedit_version": memedit_version,
        "created": utc_now(),
        "embedder": embedder,
        "counts": {
            "edits": len(edits),
            "live": sum(e.live for e in edits),
            "vectors": 0 if vectors is None else len(edits),
            "relations": 0 if relations is None else len(edits),
        },
        "router": router,
    }
    files[README] = _card(manifest).encode("utf-8")
    manifest["files"] = {
        name: {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
        for name, data in files.items()
    }
    files[MANIFEST] = (json.dumps(manifest, indent=2) + "\n").encode("utf-8")
    return files


def _format_version(edits: Sequence[Edit], relations: bool) -> int:
    """The oldest format version that holds these edits (and relation vectors, if any): what
    older memedits can read, and refuse when they would lose something."""
    if any(edit.aliases for edit in edits):
        return 3
    return 2 if relations else 1


def write_bundle(
    path: str | Path, files: dict[str, bytes], *, as_dir: bool = False, overwrite: bool = False
) -> Path:
    """Write a bundle atomically: as a zip file, or as a folder.

    ``overwrite`` replaces an existing file, or a folder that holds nothing but
    bundle files; any other folder (a store, a home directory) is refused.
    """
    path = Path(path).expanduser()
    if path.exists() and not overwrite:
        raise BundleError(
            f"{path} already exists; choose another path or pass --force to overwrite it."
        )
    if path.exists() and as_dir != path.is_dir():
        raise BundleError(
            f"{path} exists and is a {'file' if as_dir else 'folder'}; choose another path."
        )
    if as_dir and path.exists():
        foreign = sorted(
            p.name
            for p in path.iterdir()
            if p.name not in MEMBERS or p.is_symlink() or not p.is_file()
        )
        if path.is_symlink() or foreign:
            raise BundleError(
                f"{path} is not a bundle folder ({'a link' if path.is_symlink() else 'it holds ' + ', '.join(foreign[:3])}); "
                "--force only replaces a bundle. Choose another path."
            )
    path.parent.mkdir(parents=True, exist_ok=True)
    if as_dir:
        staging = Path(tempfile.mkdtemp(prefix=".memedit-export-", dir=path.parent))
        for name, data in files.items():
            (staging / name).write_bytes(data)
        if path.exists():
            shutil.rmtree(path)
        os.replace(staging, path)
        return path
    fd, tmp_name = tempfile.mkstemp(prefix=".memedit-export-", dir=path.parent)
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp_name, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, data in files.items():
                info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = (
                    zipfile.ZIP_STORED if name in (VECTORS, RELATIONS) else zipfile.ZIP_DEFLATED
                )
                info.external_attr = (stat.S_IFREG | 0o644) << 16
                archive.writestr(info, data)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path


# -- reading ---------------------------------------------------------------------


def _check_member_name(name: str, where: Path) -> None:
    pure = PurePosixPath(name.replace("\\", "/"))
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or pure.is_absolute():
        raise BundleError(
            f"{where}: member {name!r} has an absolute path; refusing to import this bundle."
        )
    if ".." in pure.parts:
        raise BundleError(
            f"{where}: member {name!r} points outside the bundle (..); refusing to import it."
        )


def _unexpected(name: str, where: Path) -> BundleError:
    return BundleError(
        f"{where}: unexpected member {name!r}; a bundle holds only {', '.join(MEMBERS)}."
    )


class _Reader:
    """Uniform, capped access to the members of a zip, a tar or a folder."""

    def __init__(self, where: Path) -> None:
        self.where = where
        self.sizes: dict[str, int] = {}

    def read(self, name: str) -> bytes:
        cap = SIZE_CAPS[name]
        declared = self.sizes[name]
        if declared > cap:
            raise BundleError(
                f"{self.where}: {name} is {declared:,} bytes, over the {cap:,}-byte cap."
            )
        # Read at most one byte past the declared size, never up to the cap: a
        # buffered read(n) allocates n bytes up front, and the caps are gigabytes.
        data = self._read(name, declared + 1)
        if len(data) != declared:
            raise BundleError(
                f"{self.where}: {name} is not the {declared:,} bytes its entry declares; "
                "the bundle is corrupt or changed while being read."
            )
        return data

    def _read(self, name: str, limit: int) -> bytes:
        raise NotImplementedError


class _ZipReader(_Reader):
    def __init__(self, where: Path, archive: zipfile.ZipFile) -> None:
        super().__init__(where)
        self.archive = archive
        for info in archive.infolist():
            _check_member_name(info.filename, where)
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                raise BundleError(
                    f"{where}: member {info.filename!r} is a link; refusing to import this bundle."
                )
            if info.is_dir() or info.filename not in MEMBERS:
                raise _unexpected(info.filename, where)
            if info.filename in self.sizes:
                raise BundleError(
                    f"{where}: member {info.filename!r} appears twice; the bundle is corrupt."
                )
            self.sizes[info.filename] = info.file_size

    def _read(self, name: str, limit: int) -> bytes:
        try:
            with self.archive.open(name) as member:
                return member.read(limit)
        except (NotImplementedError, RuntimeError) as exc:  # unknown compression, encryption
            raise BundleError(f"{self.where}: cannot read {name} ({exc}).") from None


class _TarReader(_Reader):
    def __init__(self, where: Path, archive: tarfile.TarFile) -> None:
        super().__init__(where)
        self.archive = archive
        self.members: dict[str, tarfile.TarInfo] = {}
        for count, member in enumerate(archive, start=1):
            if count > 2 * len(MEMBERS):
                raise BundleError(f"{where}: too many members for a bundle.")
            _check_member_name(member.name, where)
            if member.issym() or member.islnk():
                raise BundleError(
                    f"{where}: member {member.name!r} is a link; refusing to import this bundle."
                )
            name = member.name[2:] if member.name.startswith("./") else member.name
            if member.isdir() and name in ("", "."):
                continue
            if not member.isfile() or name not in MEMBERS:
                raise _unexpected(member.name, where)
            if name in self.members:
                raise BundleError(f"{where}: member {name!r} appears twice; the bundle is corrupt.")
            self.members[name] = member
            self.sizes[name] = member.size

    def _read(self, name: str, limit: int) -> bytes:
        handle = self.archive.extractfile(self.members[name])
        if handle is None:
            raise BundleError(f"{self.where}: cannot read {name}.")
        return handle.read(limit)


class _DirReader(_Reader):
    """A folder bundle (``--dir`` exports, Hub snapshots): other files are ignored."""

    def __init__(self, where: Path) -> None:
        super().__init__(where)
        for name in MEMBERS:
            member = where / name
            if member.is_symlink():
                raise BundleError(f"{where}: {name} is a link; refusing to import this bundle.")
            if member.exists():
                if not member.is_file():
                    raise BundleError(f"{where}: {name} is not a regular file.")
                self.sizes[name] = member.stat().st_size

    def _read(self, name: str, limit: int) -> bytes:
        with open(self.where / name, "rb") as handle:
            return handle.read(limit)


@contextmanager
def _open_reader(path: Path) -> Iterator[_Reader]:
    if path.is_dir():
        yield _DirReader(path)
        return
    if not path.is_file():
        raise BundleError(f"{path}: no such bundle file or folder.")
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            yield _ZipReader(path, archive)
        return
    try:
        is_tar = tarfile.is_tarfile(path)
    except (OSError, tarfile.TarError):
        is_tar = False
    if is_tar:
        with tarfile.open(path, "r:*") as archive:
            yield _TarReader(path, archive)
        return
    raise BundleError(
        f"{path} is not a memedit bundle (expected a .memedit zip, a tar archive or a bundle folder)."
    )


def _parse_manifest(data: bytes, where: Path) -> Manifest:
    try:
        raw = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{where}: manifest.json is not valid JSON ({exc}).") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT_NAME:
        raise BundleError(f"{where}: manifest.json does not describe a memedit bundle.")
    version = raw.get("format_version")
    if isinstance(version, int) and version > FORMAT_VERSION:
        raise BundleError(
            f"{where}: bundle format version {version} is newer than this memedit reads "
            f"({FORMAT_VERSION}); upgrade memedit: pip install -U memedit."
        )
    try:
        return Manifest.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        raise BundleError(f"{where}: manifest.json: {field}: {first['msg']}.") from None


def _parse_edits(data: bytes, manifest: Manifest, where: Path) -> list[Edit]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise BundleError(f"{where}: edits.jsonl is not UTF-8.") from None
    edits: list[Edit] = []
    seen: set[str] = set()
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict):
                raise BundleError("not a JSON object")
            for key in ("id", "created"):
                if not isinstance(record.get(key), str):
                    raise BundleError(f"missing {key!r}")
            edit = edit_from_record(record)
        except json.JSONDecodeError as exc:
            raise BundleError(
                f"{where}: edits.jsonl line {number}: invalid JSON ({exc.msg})."
            ) from None
        except MemeditError as exc:
            raise BundleError(f"{where}: edits.jsonl line {number}: {exc}") from None
        except (TypeError, ValueError) as exc:  # e.g. tags not a list, a lone surrogate
            raise BundleError(
                f"{where}: edits.jsonl line {number}: not a valid edit ({exc})."
            ) from None
        if edit.id in seen:
            raise BundleError(f"{where}: edits.jsonl line {number}: duplicate id {edit.id}.")
        seen.add(edit.id)
        edits.append(edit)
    if len(edits) != manifest.counts.edits:
        raise BundleError(
            f"{where}: edits.jsonl has {len(edits)} edits but the manifest says {manifest.counts.edits}; "
            "the bundle is incomplete or was altered."
        )
    return edits


def _parse_matrix(
    data: bytes, member: str, edits: list[Edit], manifest: Manifest, where: Path
) -> tuple[np.ndarray, dict[str, str]]:
    """The one tensor of a safetensors ``member`` (named as the file, less its suffix), and
    its metadata: float32, one finite row per edit of the embedder's dimension, each of unit
    length (or, for a relation vector, none), made for these edits by this embedder."""
    name = member.removesuffix(".safetensors")
    try:
        tensors = load_safetensors(data)
    except (SafetensorError, ValueError, OSError) as exc:
        raise BundleError(f"{where}: {member} is not a valid safetensors file ({exc}).") from None
    if set(tensors) != {name}:
        raise BundleError(f"{where}: {member} must hold one tensor named {name!r}.")
    matrix = tensors[name]
    expected = (len(edits), manifest.embedder.dimension)
    if matrix.dtype != np.float32 or matrix.shape != expected:
        raise BundleError(
            f"{where}: {name} have shape {tuple(matrix.shape)} and type {matrix.dtype}; "
            f"expected {expected} float32 (one row per edit)."
        )
    if len(matrix) and not np.isfinite(matrix).all():
        raise BundleError(f"{where}: {name} contain NaN or infinite values.")
    if len(matrix) and manifest.embedder.normalize:
        norms = np.linalg.norm(matrix, axis=1)
        off = np.abs(norms - 1.0) > 1e-3
        if member == RELATIONS:
            off &= norms > 1e-6  # a text with nothing to pool has a zero relation vector
        if off.any():
            raise BundleError(f"{where}: {name} are not unit length as the manifest says.")
    meta = _header_metadata(data)
    if meta.get("ids_sha256") != _ids_digest(edits) or meta.get("embedder") != manifest.embedder.id:
        raise BundleError(f"{where}: {member} does not belong to these edits or this embedder.")
    return matrix, meta


def _header_metadata(data: bytes) -> dict[str, str]:
    length = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + length])
    meta = header.get("__metadata__") or {}
    return meta if isinstance(meta, dict) else {}


def read_bundle(path: str | Path) -> EditBundle:
    """Read and check a bundle (zip, tar or folder); raise BundleError on anything wrong."""
    path = Path(path).expanduser()
    try:
        with _open_reader(path) as reader:
            if MANIFEST not in reader.sizes:
                raise BundleError(f"{path}: no manifest.json; this is not a memedit bundle.")
            manifest = _parse_manifest(reader.read(MANIFEST), path)
            listed = set(manifest.files)
            allowed = set(VERSION_MEMBERS[manifest.format_version]) - {MANIFEST}
            if not listed <= allowed or EDITS not in listed:
                raise BundleError(
                    f"{path}: manifest.json lists unexpected files: {sorted(listed)}."
                )
            extra = set(reader.sizes) - listed - {MANIFEST}
            if extra and not isinstance(reader, _DirReader):
                raise BundleError(
                    f"{path}: {', '.join(sorted(extra))} is not listed in the manifest."
                )
            contents: dict[str, bytes] = {}
            for name, entry in manifest.files.items():
                if name not in reader.sizes:
                    raise BundleError(
                        f"{path}: {name} is listed in the manifest but missing; the bundle is incomplete."
                    )
                if reader.sizes[name] != entry.bytes:
                    raise BundleError(
                        f"{path}: {name} is {reader.sizes[name]:,} bytes, the manifest says {entry.bytes:,}."
                    )
                data = reader.read(name)
                if hashlib.sha256(data).hexdigest() != entry.sha256:
                    raise BundleError(
                        f"{path}: {name} fails its sha256 check; the bundle was altered or damaged."
                    )
                contents[name] = data
    except (zipfile.BadZipFile, zlib.error, EOFError, tarfile.TarError) as exc:
        raise BundleError(f"{path}: the archive is truncated or corrupt ({exc}).") from None
    edits = _parse_edits(contents[EDITS], manifest, path)
    vectors = relations = recipe = None
    for member, count in (
        (VECTORS, manifest.counts.vectors),
        (RELATIONS, manifest.counts.relations),
    ):
        what = member.removesuffix(".safetensors")
        if member not in contents:
            if count:
                raise BundleError(
                    f"{path}: the manifest counts {what} but the bundle has no {member}."
                )
            continue
        if count != len(edits):
            raise BundleError(f"{path}: the manifest counts {count} {what} for {len(edits)} edits.")
        matrix, meta = _parse_matrix(contents[member], member, edits, manifest, path)
        if member == VECTORS:
            vectors = matrix
        else:
            relations, recipe = matrix, meta.get("recipe")
            if vectors is None or not isinstance(recipe, str) or not recipe:
                raise BundleError(
                    f"{path}: {RELATIONS} needs {VECTORS} beside it and the recipe that "
                    "pooled it in its metadata."
                )
    return EditBundle(manifest, edits, vectors, relations, recipe)


__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "RELATIONS",
    "EditBundle",
    "Manifest",
    "bundle_files",
    "read_bundle",
    "write_bundle",
]
