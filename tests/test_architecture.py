"""The layout holds: the import contracts in pyproject.toml, modules of a readable size, and
ARCHITECTURE.md's table in step with the tree."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.servers import REPO_DIR

MAX_LINES = 400
CODE_FOLDERS = ("loader", "service")
PATH_ENDINGS = (".py", ".js", ".html", ".css", "/")


def modules() -> list[Path]:
    """Every Python module under loader/ and service/, relative to the repository."""
    return sorted(path.relative_to(REPO_DIR) for folder in CODE_FOLDERS for path in (REPO_DIR / folder).rglob("*.py")
                  if "__pycache__" not in path.parts)


def resolve(folder: str, token: str) -> str:
    """A path a row names: relative to the row's folder, else to the repository (`designdocs/_lib/*.js`)."""
    def exists(path: str) -> bool:
        return any(REPO_DIR.glob(path)) if "*" in path else (REPO_DIR / path).exists()
    if token == folder or (not exists(folder + token) and exists(token)):
        return token
    return folder + token


def table_paths() -> set[str]:
    """The paths ARCHITECTURE.md's table names in its first two columns (the package, its modules)."""
    text = (REPO_DIR / "ARCHITECTURE.md").read_text()
    section = text.split("## Where each part lives", 1)[1].split("\n## ", 1)[0]
    named = set()
    for row in (line for line in section.splitlines() if line.startswith("| `")):
        package, contents = row.split("|")[1:3]
        folder = re.findall(r"`([^`]+)`", package)[0]
        for token in re.findall(r"`([^`]+)`", package + contents):
            if (token.endswith(PATH_ENDINGS) or "*" in token) and not re.search(r"[<>…\s]", token):
                named.add(resolve(folder if folder.endswith("/") else "", token))
    return named


def test_the_import_contracts_are_kept():
    done = subprocess.run([str(Path(sys.executable).parent / "lint-imports")], cwd=REPO_DIR,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"lint-imports exited with {done.returncode}:\n{done.stdout}\n{done.stderr}"


def test_no_module_is_over_400_lines():
    sizes = {str(path): len((REPO_DIR / path).read_text().splitlines()) for path in modules()}
    over = {path: lines for path, lines in sizes.items() if lines > MAX_LINES}
    assert not over, f"modules over {MAX_LINES} lines (split them by concern): {over}"


def test_the_table_names_every_module():
    named = table_paths()
    missing = [str(path) for path in modules()
               if str(path) not in named and not (path.name == "__init__.py" and f"{path.parent}/" in named)]
    assert not missing, f"ARCHITECTURE.md's table does not name: {missing}"


def test_every_path_the_table_names_exists():
    absent = sorted(path for path in table_paths()
                    if not (any(REPO_DIR.glob(path)) if "*" in path else (REPO_DIR / path).exists()))
    assert not absent, f"ARCHITECTURE.md's table names paths that do not exist: {absent}"
