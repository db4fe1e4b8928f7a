"""Share edit stores through the Hugging Face Hub, as dataset repos.

``push`` exports the store as a bundle folder (manifest.json, edits.jsonl,
vectors.safetensors, README.md) and uploads it; the Hub's dataset viewer
then shows the edits. ``pull`` downloads those files and imports them with
every check that ``memedit import`` makes. The Hub is reached through
exactly two calls, kept behind :class:`HubClient` so that tests and
air-gapped setups can substitute a stand-in:

- ``upload(folder, repo_id, private, message)``: ``HfApi.create_repo`` (exist_ok) + ``HfApi.upload_folder``;
- ``download(repo_id, revision, dest)``: ``huggingface_hub.snapshot_download`` into a plain folder.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Protocol

from memedit.bundle import MEMBERS
from memedit.errors import HubError, MemeditError
from memedit.store import EditStore, ImportReport, OnConflict, import_into

_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95}$")


class HubClient(Protocol):
    """The two Hub operations memedit needs."""

    def upload(self, folder: Path, repo_id: str, *, private: bool, message: str) -> str:
        """Upload a bundle folder to a dataset repo; returns the repo's URL."""
        ...

    def download(self, repo_id: str, *, revision: str | None, dest: Path) -> Path:
        """Download a dataset repo's bundle files into ``dest``; returns the folder."""
        ...


class HfHubClient:
    """The real Hub, through huggingface_hub (token from ``token``, HF_TOKEN or the login cache)."""

    def __init__(self, token: str | None = None) -> None:
        self.token = token

    def upload(self, folder: Path, repo_id: str, *, private: bool, message: str) -> str:
        from huggingface_hub import HfApi

        api = HfApi(token=self.token)
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        api.upload_folder(
            repo_id=repo_id,
            folder_path=folder,
            repo_type="dataset",
            commit_message=message,
            delete_patterns=list(MEMBERS),  # drop bundle files this push no longer has
        )
        return f"https://huggingface.co/datasets/{repo_id}"

    def download(self, repo_id: str, *, revision: str | None, dest: Path) -> Path:
        from huggingface_hub import snapshot_download

        path = snapshot_download(
            repo_id=repo_id,
            repo_type="dataset",
            revision=revision,
            local_dir=dest,
            allow_patterns=list(MEMBERS),
            token=self.token,
        )
        return Path(path)


def _check_repo_id(repo_id: str) -> None:
    if not _REPO_ID.match(repo_id) or ".." in repo_id:
        raise HubError(f"{repo_id!r} is not a Hub repo id; use the form 'user-or-org/name'.")


def _hub_failure(action: str, repo_id: str, exc: Exception) -> HubError:
    reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
    return HubError(
        f"Could not {action} {repo_id} on the Hugging Face Hub ({reason}). Check the network and your token "
        "(HF_TOKEN or `hf auth login`), or share a file made with `memedit export` instead."
    )


def push(
    store: EditStore,
    repo_id: str,
    *,
    private: bool = False,
    vectors: bool = True,
    message: str | None = None,
    client: HubClient | None = None,
) -> str:
    """Publish the store as a dataset repo; returns its URL."""
    _check_repo_id(repo_id)
    client = client or HfHubClient()
    with tempfile.TemporaryDirectory(prefix="memedit-push-") as tmp:
        folder = store.export(Path(tmp) / "bundle", as_dir=True, vectors=vectors)
        try:
            return client.upload(
                folder,
                repo_id,
                private=private,
                message=message or f"memedit: {len(store)} live edits",
            )
        except MemeditError:
            raise
        except Exception as exc:  # network, auth and HTTP errors come in many types
            raise _hub_failure("push to", repo_id, exc) from None


def pull(
    store: EditStore | str | Path | None,
    repo_id: str,
    *,
    revision: str | None = None,
    on_conflict: OnConflict = "skip",
    dry_run: bool = False,
    client: HubClient | None = None,
) -> ImportReport:
    """Import a bundle published with :func:`push` into a store (or the store at a path,
    created only once the download has passed every check); ``import``'s checks apply."""
    _check_repo_id(repo_id)
    client = client or HfHubClient()
    with tempfile.TemporaryDirectory(prefix="memedit-pull-") as tmp:
        try:
            folder = client.download(repo_id, revision=revision, dest=Path(tmp) / "bundle")
        except MemeditError:
            raise
        except Exception as exc:
            raise _hub_failure("pull", repo_id, exc) from None
        if isinstance(store, EditStore):
            return store.import_bundle(folder, on_conflict=on_conflict, dry_run=dry_run)
        return import_into(store, folder, on_conflict=on_conflict, dry_run=dry_run)
