"""Where datasets live on disk when the caller gives no ``root``."""
from __future__ import annotations

import os
from pathlib import Path

#: Environment variable naming the default data folder.
DATA_ENV = "GRAPHSYS_DATA"


def resolve_root(root: str | os.PathLike | None) -> Path:
    """``root`` itself, else ``$GRAPHSYS_DATA``, else ``~/.cache/graphsys``.

    Raises:
        NotADirectoryError: the folder named is a regular file.
    """
    if root is not None:
        folder, named = Path(root).expanduser(), f"root {root}"
    elif os.environ.get(DATA_ENV):
        folder, named = Path(os.environ[DATA_ENV]).expanduser(), f"${DATA_ENV} = {os.environ[DATA_ENV]}"
    else:
        folder, named = Path.home() / ".cache" / "graphsys", "the default data folder ~/.cache/graphsys"
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"{named} is a file, expected the folder that holds the datasets")
    return folder


def find_dir(root: Path, candidates: list[str], what: str) -> Path:
    """The first of ``root / c`` that is a directory; FileNotFoundError naming every place looked at."""
    for name in candidates:
        path = root / name
        if path.is_dir():
            return path
    tried = ", ".join(str(root / c) for c in candidates)
    raise FileNotFoundError(f"{what} not found: looked for {tried} (pass root= the folder holding it)")
