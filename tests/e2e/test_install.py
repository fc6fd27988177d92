"""A regular install, as a new user makes it: the wheel built from the repository's files,
installed (not editable) into a fresh virtual environment, runs `zhibao --help` and a short
`zhibao demo` from an empty directory — so no sub-package or data file can be left out of it.

The new environment takes its dependencies from this one (a `.pth` line naming its
site-packages, whose own `.pth` files — the editable install of this checkout — are not
read), so the test needs no network and installs in seconds."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parents[2]


def _repository_files() -> list[str]:
    """What a clone holds: tracked files and new ones not ignored (never build/ leftovers)."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard",
                             "-z"], cwd=REPOSITORY, check=True, capture_output=True).stdout
    return [name for name in listed.decode().split("\0") if name]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = tmp_path_factory.mktemp("source")
    for name in _repository_files():
        if (REPOSITORY / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            (source / name).write_bytes((REPOSITORY / name).read_bytes())
    out = tmp_path_factory.mktemp("wheels")
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps",
                    "--no-build-isolation", "-q", "-w", str(out)], check=True)
    return next(out.glob("zhibao-*.whl"))


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh environment holding the wheel, its dependencies borrowed from this one."""
    env = tmp_path_factory.mktemp("venv")
    venv.create(env, with_pip=False)
    python = env / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path("
                           "'purelib'))"], check=True, capture_output=True, text=True)
    Path(site.stdout.strip(), "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q",
                    "--no-deps", "--no-index", str(wheel)], check=True)
    return env


def test_the_wheel_holds_every_package_and_data_file(wheel: Path):
    shipped = set(zipfile.ZipFile(wheel).namelist())
    expected = {name for name in _repository_files()
                if name.split("/")[0] in ("domain", "projections", "infra", "flows", "schemas")
                and not name.endswith(".md")}
    assert expected - shipped == set()
    assert "infra/demo/data/tasks_2021_ankang.csv" in shipped
    assert any(name.startswith("schemas/released/") for name in shipped)


@pytest.mark.slow
def test_the_installed_command_runs_a_short_demo_from_an_empty_directory(installed: Path,
                                                                         tmp_path: Path):
    zhibao = installed / "bin" / "zhibao"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZHIBAO_", "PYTHON"))}
    env["PREFECT_HOME"] = str(tmp_path / ".prefect")
    where = subprocess.run([str(installed / "bin" / "python"), "-c",
                            "import infra.demo; print(infra.demo.__file__)"], cwd=tmp_path,
                           env=env, check=True, capture_output=True, text=True)
    assert where.stdout.startswith(str(installed))  # the wheel's copy, not this checkout

    shown = subprocess.run([str(zhibao), "--help"], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert "demo" in shown.stdout

    demo = subprocess.run([str(zhibao), "demo", "--months", "1"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert demo.returncode == 0, demo.stderr[-3000:]
    assert (tmp_path / "zhibao.db").is_file()
    assert (tmp_path / "zhibao-out/reports/2021-01/610900/v1.pdf").is_file()
    assert "Traceback" not in demo.stderr

    status = subprocess.run([str(zhibao), "status", "--check"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=60)
    assert status.returncode == 0, status.stderr[-3000:]  # the demo leaves its views current
