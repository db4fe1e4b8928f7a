"""Where memedit keeps its data when no path is given."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def memedit_home() -> Path:
    """``$MEMEDIT_HOME``, else the platform's per-user application data folder."""
    env = os.environ.get("MEMEDIT_HOME")
    if env:
        return Path(env).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "memedit"


def default_store_path() -> Path:
    """The store used when ``--store`` is not given: ``<home>/store``."""
    return memedit_home() / "store"
