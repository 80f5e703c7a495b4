"""Where datasets live on disk when the caller gives no ``root``."""
from __future__ import annotations

import os
from pathlib import Path

#: Environment variable naming the default data folder.
DATA_ENV = "GRAPHSYS_DATA"


def resolve_root(root: str | os.PathLike | None) -> Path:
    """``root`` itself, else ``$GRAPHSYS_DATA``, else ``~/.cache/graphsys``."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "graphsys"


def find_dir(root: Path, candidates: list[str], what: str) -> Path:
    """The first of ``root / c`` that is a directory; FileNotFoundError naming every place looked at."""
    for name in candidates:
        path = root / name
        if path.is_dir():
            return path
    tried = ", ".join(str(root / c) for c in candidates)
    raise FileNotFoundError(f"{what} not found: looked for {tried} (pass root= the folder holding it)")
