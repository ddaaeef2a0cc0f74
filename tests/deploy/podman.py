"""Building and running harvest-sync's image with podman, as CI does on a machine that reaches
no image registry: the base is Debian bookworm made with debootstrap (python3, python3-venv)
and loaded with `podman import`.

Both images are cached in podman's own store, tagged by a hash of what they are made from
(the base recipe; the Dockerfile, .dockerignore and every file the build copies), so a second
run on the same machine builds nothing and a change to any of them builds again.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import ssl
import subprocess
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).parents[2]
# This machine's podman: Debian's runc (crun refuses its cgroups), rlimits it accepts, and the
# host's network (PostgreSQL, RabbitMQ and PyPI are reached as from the host).
RUN_FLAGS = (
    "--runtime",
    "runc",
    "--ulimit",
    "nofile=1024:1024",
    "--ulimit",
    "nproc=1024:1024",
    "--network",
    "host",
)
BASE_REPO = "localhost/harvest-sync-ci-base"
IMAGE_REPO = "localhost/harvest-sync-ci"
SUITE, VARIANT, PACKAGES = "bookworm", "minbase", ("python3", "python3-venv")
# Left out of the base: a runtime image needs no apt lists, package cache, docs or locales.
PRUNED = ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc", "usr/share/man", "usr/share/locale")
TOOLS = ("podman", "runc", "debootstrap")


def missing_tools() -> str | None:
    """Why the image cannot be built here, or None."""
    absent = [tool for tool in TOOLS if shutil.which(tool) is None]
    if absent:
        return f"{', '.join(absent)} not installed (Debian packages; .ci/run installs them)"
    if os.geteuid() != 0:
        return "not root: debootstrap and podman's host network need root here"
    return None


def podman(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["podman", *args], capture_output=True, text=True, timeout=timeout, check=False)
    if check and done.returncode != 0:
        raise AssertionError(
            f"podman {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
        )
    return done


def exists(ref: str) -> bool:
    return podman("image", "exists", ref, check=False).returncode == 0


def _hash(*parts: bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(len(part).to_bytes(8, "big") + part)
    return digest.hexdigest()[:16]


def base_image() -> str:
    """The Debian stand-in for python:3.11-slim, built once per recipe."""
    recipe = repr((SUITE, VARIANT, PACKAGES, PRUNED)).encode()
    ref = f"{BASE_REPO}:{SUITE}-{_hash(recipe)}"
    if exists(ref):
        return ref
    mirror = os.environ.get("DEBIAN_MIRROR", "http://deb.debian.org/debian")
    with tempfile.TemporaryDirectory(prefix="hs-base-", dir="/var/tmp") as tmp:
        root = Path(tmp, "rootfs")
        done = subprocess.run(
            [
                "debootstrap",
                f"--variant={VARIANT}",
                f"--include={','.join(PACKAGES)}",
                SUITE,
                str(root),
                mirror,
            ],
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        if done.returncode != 0:
            raise AssertionError(
                f"debootstrap exited {done.returncode}:\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
            )
        for path in PRUNED:
            shutil.rmtree(root / path, ignore_errors=True)
        tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
        subprocess.run(
            ["podman", "import", "--change", 'CMD ["/bin/bash"]', "-", ref],
            stdin=tar.stdout,
            capture_output=True,
            timeout=300,
            check=True,
        )
        assert tar.wait(timeout=60) == 0
    return ref


def context_files() -> list[Path]:
    """What `podman build .` sends: the paths .dockerignore lets in, without bytecode."""
    allowed = [line[1:] for line in (REPO / ".dockerignore").read_text().splitlines() if line.startswith("!")]
    files = []
    for name in allowed:
        path = REPO / name
        found = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        files += [p for p in found if "__pycache__" not in p.parts and p.suffix != ".pyc"]
    return files


def image_ref(base: str) -> str:
    parts = [base.encode(), (REPO / "Dockerfile").read_bytes(), (REPO / ".dockerignore").read_bytes()]
    for path in context_files():
        parts += [str(path.relative_to(REPO)).encode(), path.read_bytes()]
    return f"{IMAGE_REPO}:{_hash(*parts)}"


def ca_bundle() -> str | None:
    """The CA bundle pip on this host trusts, for a build behind a TLS-inspecting proxy."""
    for candidate in (
        os.environ.get("PIP_CERT"),
        os.environ.get("SSL_CERT_FILE"),
        ssl.get_default_verify_paths().cafile,
        "/etc/ssl/certs/ca-certificates.crt",
    ):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def app_image() -> tuple[str, float]:
    """(the image built from the Dockerfile on the Debian base, seconds spent building now)."""
    started = time.monotonic()
    base = base_image()
    ref = image_ref(base)
    if not exists(ref):
        secret = ["--secret", f"id=ca_bundle,src={bundle}"] if (bundle := ca_bundle()) else []
        podman(
            "build",
            *RUN_FLAGS,
            *secret,
            "--build-arg",
            f"BASE_IMAGE={base}",
            "--tag",
            ref,
            str(REPO),
            timeout=1200,
        )
        _drop_older_builds(keep=ref)
    return ref, time.monotonic() - started


def _drop_older_builds(keep: str) -> None:
    """Only our own repository's tags, and never the one just built."""
    listed = podman("images", "--format", "{{.Repository}}:{{.Tag}}", IMAGE_REPO).stdout.split()
    for ref in listed:
        if ref != keep and ref.startswith(f"{IMAGE_REPO}:"):
            podman("rmi", ref, check=False)
