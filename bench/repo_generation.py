"""A large, realistic config repository, generated in seconds with ``git fast-import``.

``commits`` commits on ``nop``, round-robin over ``apps`` app folders (one ConfigMap
value changes per commit); every ``release_every`` commits ``nop`` is merged into ``prd``
(a production release). Each app folder holds ``objects_per_app`` manifests in plain YAML.
Committer dates advance one minute per commit, so Timestamp pinning has real work to do.

With ``released_app``, every ``image_bump_every``-th change of that app's folder also
moves the image tag of all its Deployments (``1.1.0``, ``1.2.0``, …): its history then
holds releases for ``release import`` to find, recorded in ``GeneratedRepo.app_releases``.
Without it the repository is exactly what it was before (bench_config measures that).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

START = datetime(2025, 1, 1, tzinfo=UTC)


@dataclass
class Release:
    number: int
    prd: str
    nop: str
    released_at: datetime


@dataclass(frozen=True)
class AppRelease:
    """A version of ``released_app`` reaching prd: the first prd-history commit running it."""

    version: str
    prd: str


@dataclass
class GeneratedRepo:
    path: Path
    apps: list[str]
    releases: list[Release] = field(default_factory=list)
    #: The releases of ``released_app`` on prd, oldest first (``1.0.0`` at the initial commit).
    app_releases: list[AppRelease] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.path.as_uri()


def app_manifests(app: str, generation: int, objects: int, *, tag: str = "1.0.0") -> dict[str, str]:
    """``objects`` manifests for one app: a ConfigMap that changes, Deployments, Services."""
    files = {
        "configmap.yaml": (
            f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {app}-config\n"
            f'data:\n  GENERATION: "{generation}"\n'
            f"  PARTNER_ENDPOINT: https://partner.example.com/{app}\n"
        )
    }
    for i in range(1, objects):
        if i % 2:
            files[f"deployment-{i:02d}.yaml"] = (
                f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {app}-{i}\n"
                f"spec:\n  replicas: 1\n  selector:\n    matchLabels: {{app: {app}-{i}}}\n"
                f"  template:\n    metadata:\n      labels: {{app: {app}-{i}}}\n    spec:\n"
                f"      containers:\n      - name: app\n"
                f"        image: registry.example.com/{app}:{tag}\n"
                f"        envFrom: [{{configMapRef: {{name: {app}-config}}}}]\n"
            )
        else:
            files[f"service-{i:02d}.yaml"] = (
                f"apiVersion: v1\nkind: Service\nmetadata:\n  name: {app}-{i}\n"
                f"spec:\n  selector: {{app: {app}-{i - 1}}}\n  ports:\n  - port: 8080\n"
            )
    return files


def _commit(
    stream: list[bytes],
    *,
    branch: str,
    mark: int,
    when: datetime,
    message: str,
    parents: list[str],
    files: dict[str, str],
) -> None:
    stamp = f"{int(when.timestamp())} +0000"
    stream.append(f"commit refs/heads/{branch}\nmark :{mark}\n".encode())
    stream.append(f"author Bench <bench@example.com> {stamp}\n".encode())
    stream.append(f"committer Bench <bench@example.com> {stamp}\n".encode())
    data = message.encode()
    stream.append(f"data {len(data)}\n".encode() + data + b"\n")
    if parents:
        stream.append(f"from {parents[0]}\n".encode())
        for parent in parents[1:]:
            stream.append(f"merge {parent}\n".encode())
    for path, content in files.items():
        blob = content.encode()
        stream.append(f"M 100644 inline {path}\ndata {len(blob)}\n".encode() + blob + b"\n")
    stream.append(b"\n")


def generate(
    path: Path,
    *,
    commits: int = 10_000,
    apps: int = 200,
    objects_per_app: int = 20,
    release_every: int = 100,
    released_app: str | None = None,
    image_bump_every: int = 5,
) -> GeneratedRepo:
    names = [f"app-{i:03d}" for i in range(apps)]
    subprocess.run(["git", "init", "--quiet", "--initial-branch=nop", str(path)], check=True)
    stream: list[bytes] = []
    mark = 0
    initial: dict[str, str] = {}
    for app in names:
        for file, content in app_manifests(app, 0, objects_per_app).items():
            initial[f"apps/{app}/{file}"] = content
    mark += 1
    _commit(
        stream,
        branch="nop",
        mark=mark,
        when=START,
        message="initial config",
        parents=[],
        files=initial,
    )
    nop_mark, prd_mark = mark, None
    release_points: list[tuple[int, int, datetime]] = []  # (prd mark, nop mark, time)
    pending: dict[str, str] = {}  # nop changes not yet promoted: the merge carries them
    app_release_marks: list[tuple[str, int]] = [("1.0.0", 1)] if released_app else []
    touches, bumps, unreleased_tag = 0, 0, None
    for n in range(1, commits):
        app = names[n % apps]
        when = START + timedelta(minutes=n)
        mark += 1
        changed = {f"apps/{app}/configmap.yaml": app_manifests(app, n, 1)["configmap.yaml"]}
        message = f"{app}: generation {n}"
        if app == released_app:
            touches += 1
            # Only once prd exists: before, nop's commits are prd's first-parent history.
            if touches % image_bump_every == 0 and n > release_every:
                bumps += 1
                unreleased_tag = f"1.{bumps}.0"
                manifests = app_manifests(app, n, objects_per_app, tag=unreleased_tag)
                changed.update(
                    (f"apps/{app}/{file}", content)
                    for file, content in manifests.items()
                    if file.startswith("deployment-")
                )
                message += f", image {unreleased_tag}"
        _commit(
            stream,
            branch="nop",
            mark=mark,
            when=when,
            message=message,
            parents=[f":{nop_mark}"],
            files=changed,
        )
        nop_mark = mark
        pending.update(changed)
        if n % release_every == 0:
            mark += 1
            # A --no-ff merge of nop into prd: prd's tree plus nop's pending changes
            # equals nop's tree. The first release starts prd from nop itself.
            parents = [f":{prd_mark}", f":{nop_mark}"] if prd_mark else [f":{nop_mark}"]
            _commit(
                stream,
                branch="prd",
                mark=mark,
                when=when + timedelta(seconds=30),
                message=f"release {n // release_every}",
                parents=parents,
                files=pending if prd_mark else {},
            )
            pending = {}
            prd_mark = mark
            release_points.append((prd_mark, nop_mark, when + timedelta(seconds=30)))
            if unreleased_tag is not None:
                app_release_marks.append((unreleased_tag, prd_mark))
                unreleased_tag = None
    stream.append(b"done\n")
    marks_file = path / ".git" / "bench-marks"
    subprocess.run(
        [
            "git",
            "-C",
            str(path),
            "fast-import",
            "--quiet",
            "--done",
            f"--export-marks={marks_file}",
        ],
        input=b"".join(stream),
        check=True,
    )
    marks = dict(line.split() for line in marks_file.read_text().splitlines())
    repo = GeneratedRepo(path=path, apps=names)
    for number, (prd, nop, when) in enumerate(release_points, start=1):
        repo.releases.append(Release(number, marks[f":{prd}"], marks[f":{nop}"], when))
    repo.app_releases = [AppRelease(tag, marks[f":{at}"]) for tag, at in app_release_marks]
    subprocess.run(["git", "-C", str(path), "checkout", "--quiet", "nop"], check=True)
    return repo
