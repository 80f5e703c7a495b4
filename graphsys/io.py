"""Safe file output and checked file input (DESIGN.md, Files).

Every writer in graphsys goes through :func:`atomic_dir` (a folder committed whole) or
:func:`atomic_file` (one file). Both

* replace only what graphsys wrote there before. A folder is graphsys's when it holds a
  :data:`MANIFEST` of the expected kind and nothing the manifest does not list; a file is
  graphsys's when a sidecar manifest (``.<name>.graphsys.json``) beside it says so and its
  bytes still match. Anything else is refused with :class:`OutputError` naming the path;
  an empty folder or a missing path is free to take.
* never delete the target first: the new content is written under a temporary name beside
  it and renamed over it, so a kill at any moment leaves the previous complete result or the
  new complete result.
* clean up what an earlier, killed writer of the same target left behind (temporary names
  carry the writer's process id, so a live writer's are left alone).

Readers call :func:`verify_dir` / :func:`verify_file`: a missing, truncated or altered file
is refused with :class:`CorruptFileError` naming it. :func:`read_npy` and :func:`read_json`
turn numpy's and json's errors into messages that name the file and what is wrong, and
never unpickle.
"""
from __future__ import annotations

import contextlib
import fnmatch
import glob
import json
import os
import re
import secrets
import shutil
import time
import zlib
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

#: The manifest inside every folder graphsys writes.
MANIFEST = "graphsys.manifest.json"
#: The kind of a metrics JSON-lines file, which training and pipelined training both write.
METRICS_KIND = "graphsys.metrics"
_MANIFEST_FORMAT = "graphsys.manifest"
_MANIFEST_VERSION = 1
#: Checksums are crc32 per chunk of this many bytes, so a large file is read by several threads
#: at once (zlib releases the GIL): 64 MiB keeps a 37 GB dataset at 600 chunks.
CHECKSUM_CHUNK = 64 << 20
_CHECKSUM_THREADS = min(8, os.cpu_count() or 1)


class OutputError(FileExistsError):
    """An output path graphsys will not write to (it holds something graphsys did not write)."""


class CorruptFileError(ValueError):
    """A file that is missing, truncated or altered relative to what graphsys wrote."""


# --------------------------------------------------------------------------- checksums
def _chunk_crc(path: Path, offset: int, length: int) -> int:
    with open(path, "rb") as f:
        f.seek(offset)
        crc, left = 0, length
        while left:
            block = f.read(min(left, 8 << 20))
            if not block:
                break
            crc = zlib.crc32(block, crc)
            left -= len(block)
        return crc


def file_records(paths: Sequence[Path]) -> list[dict]:
    """``{"size": bytes, "crc32": [one per CHECKSUM_CHUNK]}`` for each file.

    Cost: one read of every byte (crc32 runs at about 2.5 GB/s a core), chunks in a thread pool.
    """
    sizes = [p.stat().st_size for p in paths]
    jobs = [(i, off) for i, size in enumerate(sizes) for off in range(0, size, CHECKSUM_CHUNK)]
    crcs: list[list[int]] = [[] for _ in paths]
    if len(jobs) <= 1:
        results = [_chunk_crc(paths[i], off, CHECKSUM_CHUNK) for i, off in jobs]
    else:
        with ThreadPoolExecutor(_CHECKSUM_THREADS) as pool:
            results = list(pool.map(lambda job: _chunk_crc(paths[job[0]], job[1], CHECKSUM_CHUNK), jobs))
    for (i, _), crc in zip(jobs, results, strict=True):
        crcs[i].append(crc)
    return [{"size": size, "crc32": c} for size, c in zip(sizes, crcs, strict=True)]


# --------------------------------------------------------------------------- temporary names
_LEFTOVER = re.compile(r"\.(?P<pid>\d+)-[0-9a-f]{16}\.(?P<what>tmp|old)$")


def _temp_name(target: Path, suffix: str) -> Path:
    """A name beside ``target`` that nothing else uses: this process's id and 64 random bits."""
    return target.parent / f".{target.name}.{os.getpid()}-{secrets.token_hex(8)}.{suffix}"


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` of this machine still runs (a temporary name's writer, say)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _clean_leftovers(target: Path) -> None:
    """Remove the temporary names a killed writer of ``target`` left; if it was killed between
    moving the old ``target`` aside and renaming the new one in, put the old one back."""
    parent = target.parent
    if not parent.is_dir():
        return
    prefix = f".{target.name}."
    stale: list[tuple[str, Path]] = []
    for entry in parent.iterdir():
        if not entry.name.startswith(prefix):
            continue
        match = _LEFTOVER.fullmatch(entry.name[len(prefix) - 1:])
        if match and not process_alive(int(match["pid"])):
            stale.append((match["what"], entry))
    for what, entry in sorted(stale, key=lambda item: item[1].stat().st_mtime, reverse=True):
        if what == "old" and not os.path.lexists(target):
            os.replace(entry, target)
        else:
            _remove(entry)


# --------------------------------------------------------------------------- ownership
def _listing(root: Path) -> list[str]:
    """Every file under ``root`` as a '/'-separated relative path (symbolic links count as files)."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel = Path(dirpath).relative_to(root)
        for name in filenames + [d for d in dirnames if (Path(dirpath) / d).is_symlink()]:
            found.append((rel / name).as_posix())
    return sorted(found)


def _read_manifest(path: Path, kind: str | None) -> dict:
    """The manifest at ``path``; CorruptFileError when it is not a graphsys manifest (of ``kind``)."""
    try:
        manifest = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CorruptFileError(f"{path} cannot be read as a graphsys manifest ({err})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != _MANIFEST_FORMAT \
            or not isinstance(manifest.get("files"), dict):
        raise CorruptFileError(f"{path} is not a graphsys manifest")
    if kind is not None and manifest.get("kind") != kind:
        raise CorruptFileError(f"{path} describes a {manifest.get('kind')!r}, expected a {kind!r}")
    return manifest


def _legacy_format(folder: Path) -> bool:
    """Whether ``folder/meta.json`` names a graphsys format (a folder from before manifests)."""
    try:
        meta = json.loads((folder / "meta.json").read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(meta, dict) and str(meta.get("format", "")).startswith("graphsys.")


def _check_dir_replaceable(target: Path, kind: str) -> None:
    if target.is_symlink():
        raise OutputError(
            f"{target} is a symbolic link; graphsys writes only into paths it owns, refusing to replace it"
        )
    if not target.exists():
        return
    if not target.is_dir():
        raise OutputError(f"{target} is a file, not a folder graphsys wrote; refusing to replace it")
    present = _listing(target)
    if not present:
        return
    if MANIFEST not in present:
        if _legacy_format(target):
            raise OutputError(f"{target} was written by an earlier graphsys, without a {MANIFEST}, so graphsys cannot "
                              "tell that nothing else was added to it; remove it yourself to write it anew")
        raise OutputError(f"{target} holds files graphsys did not write (no {MANIFEST}); refusing to replace it: "
                          "pick another path or empty it yourself")
    try:
        manifest = _read_manifest(target / MANIFEST, None)
    except CorruptFileError as err:
        raise OutputError(f"{err}; refusing to replace {target}") from None
    if manifest.get("kind") != kind:
        raise OutputError(f"{target} holds a {manifest.get('kind')!r} written by graphsys, not a {kind!r}; "
                          "refusing to replace it")
    derived = manifest.get("derived", [])
    for rel in present:
        if rel != MANIFEST and rel not in manifest["files"] and not _derived_file(target, rel, derived):
            raise OutputError(f"{target / rel} was not written by graphsys; refusing to replace {target}")


def admitted(rel: str, derived: Sequence[str]) -> bool:
    """Whether the '/'-separated path ``rel`` matches one of the ``derived`` globs segment by segment
    (a ``*`` never matches across a '/': ``mean_features/*`` admits no file of a deeper folder)."""
    parts = rel.split("/")
    return any(len(globs) == len(parts) and all(fnmatch.fnmatchcase(p, g) for p, g in zip(parts, globs, strict=True))
               for globs in (d.split("/") for d in derived))


def _derived_file(target: Path, rel: str, derived: Sequence[str]) -> bool:
    """Whether ``rel``, a file of ``target`` its own manifest does not list, may be replaced with it: it
    matches a ``derived`` glob (:func:`admitted`), and where that glob has a wildcard it belongs to a
    graphsys unit inside ``target`` (the nearest folder above it with its own manifest lists it, or is
    it), so a file a user put into a derived folder is never taken for one graphsys wrote.
    Cost: one manifest read at most."""
    matched = [d for d in derived if admitted(rel, [d])]
    if not matched:
        return False
    if any(not glob.has_magic(d) for d in matched):  # a path named exactly (another tool's output)
        return True
    parts = rel.split("/")
    for depth in range(len(parts) - 1, 0, -1):
        unit = target.joinpath(*parts[:depth])
        if (unit / MANIFEST).is_file():
            inner = "/".join(parts[depth:])
            try:
                return inner == MANIFEST or inner in _read_manifest(unit / MANIFEST, None)["files"]
            except CorruptFileError:
                return False
    return False


def _sidecar(target: Path) -> Path:
    return target.parent / f".{target.name}.graphsys.json"


def _check_file_replaceable(target: Path, kind: str) -> dict | None:
    """The record of the graphsys file now at ``target`` (None when there is none)."""
    if target.is_symlink():
        raise OutputError(
            f"{target} is a symbolic link; graphsys writes only into paths it owns, refusing to replace it"
        )
    if not target.exists():
        return None
    if target.is_dir():
        raise OutputError(f"{target} is a directory, expected a file path")
    sidecar = _sidecar(target)
    if not sidecar.is_file():
        raise OutputError(f"{target} exists and was not written by graphsys (no {sidecar.name} beside it); "
                          "refusing to replace it")
    try:
        manifest = _read_manifest(sidecar, None)
    except CorruptFileError as err:
        raise OutputError(f"{err}; refusing to replace {target}") from None
    if manifest.get("kind") != kind:
        raise OutputError(f"{target} is a {manifest.get('kind')!r} written by graphsys, not a {kind!r}; "
                          "refusing to replace it")
    (now,) = file_records([target])
    if now not in _accepted(manifest, target.name):
        raise OutputError(f"{target} changed since graphsys wrote it; refusing to replace it")
    return now


def _accepted(manifest: dict, name: str) -> list[dict]:
    return [r for r in (manifest["files"].get(name), manifest.get("previous")) if r is not None]


def _output_target(path: str | os.PathLike) -> Path:
    """``path`` made absolute (not resolved: a symbolic link stays one), once its folder is known
    to be creatable and writable.

    Raises:
        OutputError: an empty path, or one naming a folder by ``.`` or ``..``.
        NotADirectoryError: a parent of ``path`` is a regular file.
        PermissionError: the folder that would hold ``path`` is not writable.
    """
    if str(path) == "":
        raise OutputError("the output path is empty")
    target = Path(os.path.abspath(path))
    if Path(path).name in ("", ".", ".."):
        raise OutputError(f"{path!r} names a folder by '.' or '..'; give the output its own name")
    ancestor = target.parent
    while not ancestor.exists() and not ancestor.is_symlink():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise NotADirectoryError(f"{target}: {ancestor} is a file, so no folder can be made under it")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise PermissionError(f"{target}: the folder {ancestor} is not writable")
    return target


def check_output(path: str | os.PathLike, kind: str, *, directory: bool) -> Path:
    """Raise unless a graphsys writer of ``kind`` may create or replace ``path``.

    Meant for the start of a command, before any work: the path must not be taken by
    something graphsys did not write, and its nearest existing ancestor must be a folder this
    process can write into. Cost: a few ``stat`` calls; for a file graphsys wrote, one read of it.

    Raises:
        OutputError: ``path`` holds something graphsys did not write, or is a file where a
            folder was expected (or the reverse).
        NotADirectoryError: a parent of ``path`` is a regular file.
        PermissionError: the folder that would hold ``path`` is not writable.
    """
    target = _output_target(path)
    if directory:
        _check_dir_replaceable(target, kind)
    else:
        _check_file_replaceable(target, kind)
    return target


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary name beside ``path``; on success it is renamed over ``path``.

    The primitive under the writers below, for scratch files only this process names (a
    table in ``/dev/shm``): it does not check what ``path`` holds. User-visible output goes
    through :func:`atomic_file` or :func:`atomic_dir`.

    Raises:
        FileNotFoundError: the body finished without writing the temporary file.
    """
    target = Path(path)
    tmp = _temp_name(target, "tmp")
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        _remove(tmp)


def _write_json(path: Path, data: dict) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=1))


# --------------------------------------------------------------------------- writers
@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, kind: str, *, derived: Sequence[str] = ()) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``path``; on success it replaces ``path`` whole.

    On leaving, a :data:`MANIFEST` listing every file the body wrote (size and checksums) is
    added, then the folder is renamed into place; a previous graphsys folder of the same
    ``kind`` is moved aside first and removed only once the new one is in. ``derived`` are
    glob patterns of files other tools add later on graphsys's behalf (ogb's processed
    copy), which may be replaced with the folder. On an exception the temporary folder is
    removed and ``path`` is left as it was. The folder gets the permissions of the user's
    umask. Cost: one read of everything written (the checksums).

    Raises:
        OutputError: ``path`` holds something graphsys did not write (checked before the
            body runs and again before the swap).
    """
    target = _output_target(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    _clean_leftovers(target)
    _check_dir_replaceable(target, kind)
    tmp = _temp_name(target, "tmp")
    tmp.mkdir()
    try:
        yield tmp
        files = [rel for rel in _listing(tmp) if rel != MANIFEST]
        records = file_records([tmp / rel for rel in files])
        _write_json(tmp / MANIFEST, {
            "format": _MANIFEST_FORMAT, "version": _MANIFEST_VERSION, "kind": kind,
            "run_id": secrets.token_hex(8), "written": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "derived": list(derived), "files": dict(zip(files, records, strict=True)),
        })
        _check_dir_replaceable(target, kind)
        old = None
        if os.path.lexists(target):
            old = _temp_name(target, "old")
            os.replace(target, old)
        try:
            os.replace(tmp, target)
        except BaseException:
            if old is not None:
                os.replace(old, target)
            raise
        if old is not None:
            _remove(old)
    finally:
        _remove(tmp)


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike, kind: str) -> Iterator[Path]:
    """Yield a temporary file path beside ``path``; on success it is renamed over ``path``.

    The caller creates the file (``open``, ``np.save``, ``torch.save``), so it gets the
    permissions of the user's umask. A sidecar ``.<name>.graphsys.json`` records its size and
    checksums (and those of the version it replaces, so a kill between the two renames leaves
    a pair that still matches). On an exception the temporary file is removed and ``path``
    is left as it was. Cost: one read of the new file and, when replacing, of the old one.

    Raises:
        OutputError: ``path`` holds a file graphsys did not write, or one changed since.
        FileNotFoundError: the body finished without writing the temporary file.
    """
    target = _output_target(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    _clean_leftovers(target)
    _clean_leftovers(_sidecar(target))  # a writer killed while it wrote the sidecar left its temporary
    previous = _check_file_replaceable(target, kind)
    with atomic_path(target) as tmp:
        yield tmp
        if not tmp.is_file():
            raise FileNotFoundError(f"nothing was written for {target}")
        (record,) = file_records([tmp])
        _write_json(_sidecar(target), {"format": _MANIFEST_FORMAT, "version": _MANIFEST_VERSION, "kind": kind,
                                       "files": {target.name: record}, "previous": previous})


# --------------------------------------------------------------------------- readers
def _matches(path: Path, expected: list[dict], checksums: bool) -> str | None:
    """None when the file at ``path`` matches one of ``expected``, else what is wrong."""
    if not path.is_file():
        return "is missing" if not path.exists() else "is not a regular file"
    size = path.stat().st_size
    if size not in [r["size"] for r in expected]:
        return f"has {size} bytes, the manifest says {expected[0]['size']} (truncated or replaced)"
    if checksums and file_records([path])[0] not in expected:
        return "does not match its checksum in the manifest (corrupted or altered)"
    return None


def verify_dir(path: str | os.PathLike, kind: str, *, checksums: bool = True) -> dict:
    """Check that ``path`` is a complete graphsys folder of ``kind``; returns its manifest.

    Every file the manifest lists must be present with its size (and, with ``checksums``,
    its crc32). Cost: with ``checksums``, one read of every listed file, chunks in a thread
    pool; without, one ``stat`` per file.

    Raises:
        FileNotFoundError: no folder at ``path``.
        CorruptFileError: no manifest, another kind, or a listed file missing or altered
            (the file is named).
    """
    root = Path(path)
    with contextlib.suppress(OSError):
        _clean_leftovers(root)
    if not root.exists():
        raise FileNotFoundError(f"{root} does not exist")
    if not root.is_dir():
        raise NotADirectoryError(f"{root} is a file, expected a folder written by graphsys")
    manifest_file = root / MANIFEST
    if not manifest_file.is_file():
        raise CorruptFileError(f"{root} has no {MANIFEST}: not a complete {kind} folder "
                               "(written by another tool, by an older graphsys, or interrupted)")
    manifest = _read_manifest(manifest_file, kind)
    files = manifest["files"]
    for rel, record in files.items():
        problem = _matches(root / rel, [record], checksums=False)
        if problem:
            raise CorruptFileError(f"{root / rel} {problem}")
    if checksums:
        names = list(files)
        for rel, found in zip(names, file_records([root / rel for rel in names]), strict=True):
            if found != files[rel]:
                raise CorruptFileError(f"{root / rel} does not match its checksum in {manifest_file} "
                                       "(corrupted or altered)")
    return manifest


def verify_file(path: str | os.PathLike, kind: str) -> None:
    """Check that ``path`` is a complete graphsys file of ``kind`` (its sidecar manifest matches).

    Cost: one read of the file.

    Raises:
        FileNotFoundError: no file at ``path``.
        IsADirectoryError: ``path`` is a folder.
        CorruptFileError: no sidecar, another kind, or the bytes do not match (truncated,
            corrupted or altered).
    """
    file = Path(path)
    with contextlib.suppress(OSError):
        _clean_leftovers(file)
    if file.is_dir():
        raise IsADirectoryError(f"{file} is a directory, expected a file")
    if not file.exists():
        raise FileNotFoundError(f"{file} does not exist")
    sidecar = _sidecar(file)
    if not sidecar.is_file():
        raise CorruptFileError(f"{file} has no {sidecar.name} beside it, so graphsys cannot tell that it is complete "
                               "(copy the two together)")
    manifest = _read_manifest(sidecar, kind)
    problem = _matches(file, _accepted(manifest, file.name), checksums=True)
    if problem:
        raise CorruptFileError(f"{file} {problem}")


def read_npy(path: str | os.PathLike, *, mmap_mode: str | None = None) -> np.ndarray:
    """``np.load`` without pickles, with errors that name the file and what is wrong.

    Raises:
        FileNotFoundError: no file at ``path``.
        CorruptFileError: not an ``.npy`` file, a garbled header, an object array, or fewer
            bytes than its header promises.
    """
    file = Path(path)
    if not file.is_file():
        if file.is_dir():
            raise IsADirectoryError(f"{file} is a directory, expected an .npy file")
        raise FileNotFoundError(f"{file} does not exist")
    try:
        with open(file, "rb") as f:
            version = np.lib.format.read_magic(f)
            read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) \
                else np.lib.format.read_array_header_2_0
            shape, _, dtype = read_header(f)
            offset = f.tell()
    except (ValueError, OSError, SyntaxError, EOFError) as err:
        raise CorruptFileError(f"{file} is not a readable .npy file ({err})") from None
    if dtype.hasobject:
        raise CorruptFileError(f"{file} holds Python objects (dtype {dtype}); graphsys reads only plain arrays")
    need = offset + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    have = file.stat().st_size
    if have < need:
        raise CorruptFileError(f"{file} is truncated: its header says shape {shape} of {dtype} ({need} bytes), "
                               f"the file has {have} bytes")
    try:
        return np.load(file, mmap_mode=mmap_mode, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise CorruptFileError(f"{file} cannot be read ({err})") from None


def read_json(path: str | os.PathLike) -> dict:
    """A JSON object from ``path``, with errors that name the file.

    Raises:
        FileNotFoundError: no file at ``path``.
        CorruptFileError: not UTF-8 JSON, or not an object.
    """
    file = Path(path)
    if file.is_dir():
        raise IsADirectoryError(f"{file} is a directory, expected a JSON file")
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{file} does not exist") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CorruptFileError(f"{file} is not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise CorruptFileError(f"{file} holds a JSON {type(data).__name__}, expected an object")
    return data
