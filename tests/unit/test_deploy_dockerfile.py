"""deploy/docker/Dockerfile, checked without a Docker engine: parsed with ``dockerfile-parse``
(multi-stage, non-root numeric USER, HEALTHCHECK on the readiness route, ``beholder serve``,
the data dir a VOLUME), every make target it runs exists, every COPY source exists and is
let through by Dockerfile.dockerignore, and each stage's make target, dry-run on a copy of
exactly what that stage COPYs, does what the image needs (the web stage builds with npm; the
Python stage installs the package and never needs npm)."""

from __future__ import annotations

import fnmatch
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from dockerfile_parse import DockerfileParser

from support.deploy_files import (
    DOCKERFILE,
    ROOT,
    app_paths,
    make_has_target,
    make_variable,
    unknown_variables,
)


def _instructions() -> list[dict[str, Any]]:
    return list(DockerfileParser(path=str(DOCKERFILE)).structure)


def _stages() -> dict[str, list[dict[str, Any]]]:
    stages: dict[str, list[dict[str, Any]]] = {}
    current: list[dict[str, Any]] = []
    for ins in _instructions():
        if ins["instruction"] == "FROM":
            name = ins["value"].split()[-1]
            current = stages.setdefault(name, [])
        current.append(ins)
    return stages


def _final(instruction: str) -> list[str]:
    runtime = list(_stages().values())[-1]
    return [i["value"] for i in runtime if i["instruction"] == instruction]


def test_multi_stage_node_web_then_python_build_then_runtime() -> None:
    stages = _stages()
    assert list(stages) == ["web", "build", "runtime"]
    froms = {name: ins[0]["value"].split()[0] for name, ins in stages.items()}
    args = dict(i["value"].split("=", 1) for i in _instructions() if i["instruction"] == "ARG")
    assert args[froms["web"].strip("${}")].startswith("node:")
    assert froms["build"] == froms["runtime"], "the venv is copied between identical bases"
    assert args[froms["runtime"].strip("${}")].startswith("python:3.11")
    copies = [i["value"] for i in stages["runtime"] if i["instruction"] == "COPY"]
    assert any(c.startswith("--from=build /opt/beholder/.venv ") for c in copies)
    build_copies = [i["value"] for i in stages["build"] if i["instruction"] == "COPY"]
    assert any(c.startswith("--from=web ") and "src/beholder/web" in c for c in build_copies)


def test_runs_as_a_non_root_numeric_user() -> None:
    users = _final("USER")
    assert users, "no USER in the runtime stage"
    uid, _, gid = users[-1].partition(":")
    assert uid.isdigit() and int(uid) != 0
    assert not gid or (gid.isdigit() and int(gid) != 0)


def test_healthcheck_hits_the_readiness_route_on_the_configured_port() -> None:
    (check,) = _final("HEALTHCHECK")
    assert "/api/system/ready" in check
    assert "/api/system/ready" in app_paths()
    assert "BEHOLDER_PORT" in check


def test_entrypoint_cmd_volume_and_environment() -> None:
    assert _final("ENTRYPOINT") == ['["beholder"]']
    assert _final("CMD") == ['["serve"]']
    env = DockerfileParser(path=str(DOCKERFILE)).envs
    assert env["BEHOLDER_HOST"] == "0.0.0.0"
    assert _final("VOLUME") == [f'["{env["BEHOLDER_DATA_DIR"]}"]']
    assert unknown_variables(DOCKERFILE.read_text(encoding="utf-8")) == set()


def _make_targets() -> list[str]:
    targets = []
    for ins in _instructions():
        if ins["instruction"] != "RUN":
            continue
        lexer = shlex.shlex(ins["value"], posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        command: list[str] = []
        for word in [*lexer, ";"]:
            if word not in ("&&", "||", ";", "|"):
                command.append(word)
                continue
            if command and command[0] == "make":
                targets += [w for w in command[1:] if not w.startswith("-") and "=" not in w]
            command = []
    return targets


def test_installs_only_through_make_targets_that_exist() -> None:
    targets = _make_targets()
    assert set(targets) == {"web", "install", "system-deps-runtime"}
    for target in targets:
        assert make_has_target(target), target
    # No second way to install: no pip or npm outside the make recipes.
    runs = " ".join(i["value"] for i in _instructions() if i["instruction"] == "RUN")
    assert not re.search(r"\bpip\b|\bnpm\b", runs)


def test_runtime_packages_are_installed_by_make_test_too() -> None:
    runtime = make_variable("APT_RUNTIME_PACKAGES").split()
    assert "postgresql-client" in runtime  # pg_dump for `beholder backup` on PostgreSQL
    assert set(runtime) <= set(make_variable("APT_PACKAGES").split())


def _sources() -> list[str]:
    sources = []
    for ins in _instructions():
        if ins["instruction"] != "COPY" or ins["value"].startswith("--from="):
            continue
        *paths, _dest = shlex.split(ins["value"])
        sources += paths
    return sources


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern wins; ``!`` re-includes."""
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        body = pattern.lstrip("!").rstrip("/")
        anywhere = body.startswith("**/") and fnmatch.fnmatch("/" + path, "*/" + body[3:] + "*")
        if body == "**" or path == body or path.startswith(body + "/") or anywhere:
            ignored = not negate
    return ignored


def _ignore_patterns() -> list[str]:
    text = (DOCKERFILE.parent / "Dockerfile.dockerignore").read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def test_every_copy_source_exists_and_is_in_the_build_context() -> None:
    patterns = _ignore_patterns()
    for source in _sources():
        assert (ROOT / source).exists(), source
        assert not _ignored(source.rstrip("/"), patterns), f"{source} is excluded"
    for local in ("src/beholder/web", "frontend/node_modules", ".venv", "data", ".git"):
        assert _ignored(local, patterns), f"{local} would enter the image"


def _stage_context(tmp_path: Path, stage: str) -> Path:
    """A copy of what ``stage`` COPYs from the context (frontend without node_modules)."""
    context = tmp_path / stage
    context.mkdir()
    for ins in _stages()[stage]:
        if ins["instruction"] != "COPY" or ins["value"].startswith("--from="):
            continue
        *paths, _dest = shlex.split(ins["value"])
        for source in paths:
            src, dst = ROOT / source, context / source.rstrip("/")
            if src.is_dir():
                ignore = shutil.ignore_patterns("node_modules", "web", "__pycache__")
                shutil.copytree(src, dst, ignore=ignore)
            else:
                shutil.copy2(src, dst)
    return context


def _dry_run(context: Path, target: str) -> str:
    done = subprocess.run(
        ["make", "--no-print-directory", "-n", target],
        cwd=context,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


@pytest.mark.skipif(shutil.which("make") is None, reason="make not installed")
def test_each_stage_make_target_does_what_the_image_needs(tmp_path: Path) -> None:
    web = _dry_run(_stage_context(tmp_path, "web"), "web")
    assert "npm ci" in web and "npm run build" in web
    build = _stage_context(tmp_path, "build")
    # What `COPY --from=web` brings: the built app and its stamp.
    (build / "src/beholder/web").mkdir()
    (build / "src/beholder/web/index.html").write_text("<!doctype html>")
    (build / "src/beholder/web/.built").touch()
    install = _dry_run(build, "install")
    assert "npm" not in install
    assert re.search(r"pip install .*--no-cache-dir \.$", install, re.M)
    assert "[dev]" not in install
