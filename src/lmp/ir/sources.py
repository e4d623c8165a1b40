"""Reading program sources and resolving `import` paths, safely.

An import names a `.lmp` file by a relative path. It resolves against the importing file's folder,
then against the search path, and must stay inside the folder it resolved against:

- the *project root* of the importing file: the nearest ancestor folder (the file's own included)
  holding `pyproject.toml` or `.git`, or else the importing file's own folder;
- the search path: the folders in `LMP_PATH` (separated like `PATH`) and in `[tool.lmp] path`
  (a list of folders relative to that `pyproject.toml`) of the project root.

Absolute paths, paths that leave those folders (`..`, or a symlink pointing out), names that do not
end in `.lmp` and anything but a regular file (FIFOs, devices such as `/dev/stdin` or `/dev/zero`,
`/proc` files, directories) are refused before anything is opened, and a source larger than the
parser's limit is refused before it is read whole. So an import can neither make a diagnostic quote
a file that is not a program source nor block or exhaust the tools reading it.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Container
from dataclasses import dataclass
from functools import lru_cache

from lmp.syntax.limits import MAX_FILE_BYTES, size_error

SOURCE_SUFFIX = ".lmp"
ROOT_MARKERS = ("pyproject.toml", ".git")


class SourceError(Exception):
    """A file that cannot be read as program text: not UTF-8, not a regular file, or too large."""


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def too_large_message(size: int) -> str:
    # the parser's wording (lmp.syntax.limits), so a file is refused the same way everywhere
    return size_error(size) or f"file too large ({size} bytes)"


def read_source(path: str) -> str:
    """The text of a program source. Raises `SourceError` for a special file, a file over the size
    limit or non-UTF-8 bytes, `OSError` when the file cannot be opened."""
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        raise SourceError(f"{path}: {_kind(st.st_mode)}, not a source file; lmp reads regular files only")
    if st.st_size > MAX_FILE_BYTES:
        raise SourceError(f"{path}: {too_large_message(st.st_size)}")
    # O_NONBLOCK: should the path be swapped for a FIFO between the stat and the open, the open does
    # not wait for a writer; the fstat below then refuses it.
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise SourceError(f"{path}: {_kind(st.st_mode)}, not a source file; lmp reads regular files only")
        data = fh.read(MAX_FILE_BYTES + 1)  # never more than the limit, however the file grows meanwhile
    if len(data) > MAX_FILE_BYTES:
        raise SourceError(f"{path}: {too_large_message(len(data))}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SourceError(f"{path}: not UTF-8 text (byte {exc.start}); .lmp files are UTF-8") from exc


# ------------------------------------------------------------------ import resolution


def project_root(folder: str) -> str:
    """The nearest ancestor of `folder` (itself included) with pyproject.toml or .git, else `folder`."""
    folder = os.path.abspath(folder)
    here = folder
    while True:
        if any(os.path.exists(os.path.join(here, marker)) for marker in ROOT_MARKERS):
            return here
        parent = os.path.dirname(here)
        if parent == here:
            return folder
        here = parent


@lru_cache(maxsize=64)
def _pyproject_path(pyproject: str, mtime_ns: int) -> tuple[str, ...]:
    import tomllib  # only for a program with imports: keeps ~8 ms (datetime) out of every `lmp check`

    try:
        with open(pyproject, "rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError):
        return ()  # a broken pyproject.toml is the build tool's to report
    entries = data.get("tool", {}).get("lmp", {}).get("path", [])
    if isinstance(entries, str):
        entries = [entries]
    if not isinstance(entries, list):
        return ()
    base = os.path.dirname(pyproject)
    return tuple(os.path.normpath(os.path.join(base, e)) for e in entries if isinstance(e, str) and e)


def search_path(root: str, environ: os._Environ[str] | dict[str, str] | None = None) -> list[str]:
    """The import search path for a project root: `LMP_PATH`, then `[tool.lmp] path`."""
    env = os.environ if environ is None else environ
    out = [os.path.abspath(p) for p in env.get("LMP_PATH", "").split(os.pathsep) if p]
    pyproject = os.path.join(root, "pyproject.toml")
    try:
        mtime = os.stat(pyproject).st_mtime_ns
    except OSError:
        mtime = None
    if mtime is not None:
        out.extend(_pyproject_path(pyproject, mtime))
    return list(dict.fromkeys(out))


@dataclass(frozen=True)
class Resolution:
    """Where an import leads: `path` when it may be loaded, else the diagnostic to report."""

    path: str | None
    code: str = ""
    message: str = ""
    hint: str | None = None


def _inside(path: str, folder: str) -> bool:
    try:
        return os.path.commonpath([path, folder]) == folder
    except ValueError:  # different drives
        return False


def _confined(candidate: str, folder: str) -> bool:
    """`candidate` lies in `folder` both as written and once symlinks are resolved."""
    if not _inside(candidate, folder):
        return False
    return _inside(os.path.realpath(candidate), os.path.realpath(folder))


def resolve_import(importer: str, rel: str, open_files: Container[str] = ()) -> Resolution:
    """Resolve `import "rel"` written in the file `importer`. `open_files` are paths whose text is
    in memory (editor buffers): they count as existing regular files."""
    if not rel:
        return Resolution(None, "E102", "the import path is empty", hint='write import "other.lmp"')
    if os.path.isabs(rel) or rel.startswith("~") or (len(rel) > 1 and rel[1] == ":"):
        return Resolution(None, "E102", f"`{rel}` is an absolute path; imports are relative to the importing file",
                          hint="import a .lmp file inside the project, or add its folder to LMP_PATH or "
                               "[tool.lmp] path")
    if not rel.endswith(SOURCE_SUFFIX):
        return Resolution(None, "E102", f"`{rel}` is not a .lmp file; imports name program sources",
                          hint="only .lmp files can be imported")
    here = os.path.dirname(os.path.abspath(importer))
    root = project_root(here)
    folders = [root, *search_path(root)]
    candidate = os.path.normpath(os.path.join(here, rel))
    home = next((f for f in folders if _inside(candidate, f)), None)
    if home is None:
        return Resolution(None, "E102", f"`{rel}` leads outside the project root {root}",
                          hint="imports stay inside the project (the folder with pyproject.toml or .git); "
                               "add other folders to LMP_PATH or [tool.lmp] path")
    searched = [candidate]
    tries = [(candidate, home)] + [(os.path.normpath(os.path.join(f, rel)), f) for f in folders[1:]]
    for path, folder in tries:
        if not _inside(path, folder):
            continue
        if path not in searched:
            searched.append(path)
        if path in open_files or os.path.lexists(path):
            if not _confined(path, folder):
                return Resolution(None, "E102", f"`{rel}` is a link that leads outside {folder}",
                                  hint="imports stay inside the project; add the other folder to LMP_PATH "
                                       "or [tool.lmp] path")
            return _regular(path, rel, open_files)
    return Resolution(None, "E100", f"cannot find `{rel}` (looked for {', '.join(searched)})",
                      hint="import paths are relative to the importing file (or to a folder of LMP_PATH / "
                           "[tool.lmp] path)")


def _regular(path: str, rel: str, open_files: Container[str]) -> Resolution:
    if path in open_files:
        return Resolution(path)
    try:
        st = os.stat(path)
    except OSError as exc:
        return Resolution(None, "E002", f"cannot read `{rel}`: {exc.strerror or exc}")
    if not stat.S_ISREG(st.st_mode):
        return Resolution(None, "E002", f"`{rel}` is {_kind(st.st_mode)}, not a source file; imports name "
                                        "regular .lmp files")
    if st.st_size > MAX_FILE_BYTES:
        return Resolution(None, "E002", f"`{rel}`: {too_large_message(st.st_size)}")
    return Resolution(path)
