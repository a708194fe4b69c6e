"""A plain (non-editable) install answers on its defaults: every file the package reads ships inside it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

from tests.test_cli import cli_env

ROOT = Path(__file__).resolve().parent.parent
PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check"]


def run(
    args: list[str], cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    # our own interpreter and console entry point with fixed arguments
    return subprocess.run(args, capture_output=True, text=True, check=False, timeout=600, cwd=cwd, env=env)  # noqa: S603


def test_the_built_wheel_installed_in_a_fresh_venv_answers(tmp_path: Path) -> None:
    # built from a copy: an in-tree build would leave build/ behind in the checkout
    source = tmp_path / "source"
    noise = (".venv", ".git", "eval", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", "tests", "bench")
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*noise))
    wheels = tmp_path / "wheels"
    built = run([*PIP, "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), str(source)])
    assert built.returncode == 0, built.stderr
    [wheel] = wheels.glob("switchboard-*.whl")

    fresh = tmp_path / "venv"
    venv.create(fresh, with_pip=False)
    site = Path(sysconfig.get_path("purelib", vars={"base": str(fresh), "platbase": str(fresh)}))
    # The dependencies come from the test environment's site-packages as a plain path: its .pth files (the
    # editable install of this checkout among them) are not processed, so `bot` can only come from the wheel.
    (site / "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    installed = run([*PIP, "install", "--no-deps", "-q", "--target", str(site), str(wheel)])
    assert installed.returncode == 0, installed.stderr
    python = str(fresh / "bin" / "python")
    where = run([python, "-c", "import bot, knowledge; print(bot.__file__); print(knowledge.__file__)"], cwd=tmp_path)
    assert where.returncode == 0, where.stderr
    assert all(line.startswith(str(site)) for line in where.stdout.split()), where.stdout

    home = tmp_path / "home"
    asked = run(
        [python, "-m", "bot", "ask", "--user", "wheel-user", "How long do I have to return an item?"],
        cwd=tmp_path,
        env=cli_env(home),
    )
    assert asked.returncode == 0, asked.stderr
    reply = json.loads(asked.stdout)
    assert "30 days" in reply["response"]
    assert "https://help.brightcart.example/returns/policy" in reply["sources"]
