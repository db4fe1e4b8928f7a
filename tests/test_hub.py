"""Sharing through the Hugging Face Hub, against local stand-ins of the calls memedit makes."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import huggingface_hub
import pytest
from click.testing import CliRunner

from memedit import EditStore
from memedit.cli import cli
from memedit.errors import BundleError, HubError
from memedit.hub import pull, push


class LocalHub:
    """A HubClient that keeps dataset repos in a folder."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def upload(self, folder: Path, repo_id: str, *, private: bool, message: str) -> str:
        dest = self.root / repo_id
        if dest.exists():
            shutil.rmtree(dest)
        shutil.copytree(folder, dest)
        return f"local://{repo_id}"

    def download(self, repo_id: str, *, revision: str | None, dest: Path) -> Path:
        if not (self.root / repo_id).exists():
            raise FileNotFoundError(f"404 Repository Not Found for {repo_id}")
        shutil.copytree(self.root / repo_id, dest)
        return dest


@pytest.fixture
def filled(store: EditStore) -> EditStore:
    store.add("The Eiffel Tower is located in Rome.")
    store.add("The Eiffel Tower is located in Berlin.")
    store.add("Toko Yasuda plays the piano.")
    return store


def test_push_then_pull_round_trip(filled: EditStore, tmp_path: Path) -> None:
    hub = LocalHub(tmp_path / "hub")
    assert push(filled, "me/facts", client=hub) == "local://me/facts"
    published = sorted(p.name for p in (tmp_path / "hub" / "me" / "facts").iterdir())
    assert published == [
        "README.md",
        "edits.jsonl",
        "manifest.json",
        "relations.safetensors",
        "vectors.safetensors",
    ]
    with EditStore(tmp_path / "other") as other:
        preview = pull(other, "me/facts", dry_run=True, client=hub)
        assert len(preview.added) == 3 and len(other) == 0
        report = pull(other, "me/facts", client=hub)
        assert len(report.added) == 3 and report.reembedded == 0
        assert [e.to_dict() for e in other.edits(include_superseded=True)] == [
            e.to_dict() for e in filled.edits(include_superseded=True)
        ]


def test_pull_checks_what_it_downloads(filled: EditStore, tmp_path: Path) -> None:
    hub = LocalHub(tmp_path / "hub")
    push(filled, "me/facts", client=hub)
    edits = tmp_path / "hub" / "me" / "facts" / "edits.jsonl"
    edits.write_text(edits.read_text().replace("Rome", "Rama"))
    with EditStore(tmp_path / "other") as other, pytest.raises(BundleError, match="sha256"):
        pull(other, "me/facts", client=hub)


def test_hub_failures_are_one_line(filled: EditStore, tmp_path: Path) -> None:
    hub = LocalHub(tmp_path / "hub")
    with pytest.raises(HubError, match=r"Could not pull me/missing .*404"):
        pull(filled, "me/missing", client=hub)
    with pytest.raises(HubError, match="not a Hub repo id"):
        push(filled, "../../etc", client=hub)


def test_the_real_client_makes_the_two_calls(
    filled: EditStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HfHubClient against stand-ins of HfApi.create_repo/upload_folder and snapshot_download."""
    remote = tmp_path / "remote"
    calls: list[tuple[str, dict[str, Any]]] = []

    def create_repo(self: object, repo_id: str, **kwargs: Any) -> None:
        calls.append(("create_repo", {"repo_id": repo_id, **kwargs}))

    def upload_folder(self: object, **kwargs: Any) -> None:
        calls.append(("upload_folder", kwargs))
        shutil.copytree(kwargs["folder_path"], remote / kwargs["repo_id"])

    def snapshot_download(**kwargs: Any) -> str:
        calls.append(("snapshot_download", kwargs))
        shutil.copytree(remote / kwargs["repo_id"], kwargs["local_dir"])
        return str(kwargs["local_dir"])

    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", create_repo)
    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", upload_folder)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)

    runner = CliRunner()
    pushed = runner.invoke(cli, ["push", "me/facts", "--private", "--store", str(filled.path)])
    assert pushed.exit_code == 0, pushed.output
    assert pushed.output.strip() == "Pushed to https://huggingface.co/datasets/me/facts"
    pulled = runner.invoke(
        cli, ["pull", "me/facts", "--revision", "main", "--store", str(tmp_path / "other")]
    )
    assert pulled.exit_code == 0, pulled.output
    assert pulled.output.startswith("Imported: 3 new")

    names = [name for name, _ in calls]
    assert names == ["create_repo", "upload_folder", "snapshot_download"]
    assert calls[0][1] == {
        "repo_id": "me/facts",
        "repo_type": "dataset",
        "private": True,
        "exist_ok": True,
    }
    assert calls[1][1]["repo_type"] == "dataset"
    assert calls[2][1]["repo_type"] == "dataset" and calls[2][1]["revision"] == "main"


def test_cli_push_without_network_fails_cleanly(
    filled: EditStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def offline(self: object, repo_id: str, **kwargs: Any) -> None:
        raise ConnectionError("Failed to resolve 'huggingface.co'")

    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", offline)
    result = CliRunner().invoke(cli, ["push", "me/facts", "--store", str(filled.path)])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: Could not push to me/facts on the Hugging Face Hub (Failed to resolve 'huggingface.co'). Check the "
        "network and your token (HF_TOKEN or `hf auth login`), or share a file made with `memedit export` instead."
    ]
