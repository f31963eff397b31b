"""Writing a rendered directory: whole and atomic (old or new, never a mix), one render at a
time, nothing temporary that could be committed, hand edits still protected.

On the code before the atomic writer (per-file os.replace beside the files, no lock), the kill
loop found mixed directories and `..env.llmstack-tmp` files holding the new key, and the
concurrent renders mixed files (issue #16)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from llmstack import write as writer
from llmstack.stamp import stamp
from tests.conftest import snapshot

TINY = ("--model", "./models/tiny.gguf", "--cpu", "--name", "tiny")


def llmstack(*args: str, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "llmstack", *args], cwd=cwd,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def tree(root: Path) -> dict[str, bytes]:
    """Every file and symlink under root (relative path -> content or link target)."""
    found: dict[str, bytes] = {}
    for folder, dirs, names in os.walk(root):
        for name in names + [d for d in dirs if os.path.islink(os.path.join(folder, d))]:
            path = Path(folder, name)
            key = str(path.relative_to(root))
            found[key] = os.readlink(path).encode() if path.is_symlink() else path.read_bytes()
    return found


def git(*args: str, cwd: Path) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}
    return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True).stdout


@pytest.fixture
def two_renders(cli, workdir):
    """compose/tiny rendered as A (port 4000) with a user's own files beside, and the snapshot
    of what render B (port 4001) makes of it; the directory is left holding A."""
    out = workdir / "compose" / "tiny"
    assert cli("render", *TINY, "--litellm-port", "4000").exit_code == 0
    (out / "README.md").write_text("our notes\n")
    (out / ".claude").mkdir()
    (out / ".claude" / "settings.local.json").write_text("{}\n")
    (out / "models").symlink_to("../../models")
    a = tree(out)
    assert cli("render", *TINY, "--litellm-port", "4001").exit_code == 0
    b = tree(out)
    assert cli("render", *TINY, "--litellm-port", "4000").exit_code == 0
    assert tree(out) == a and a != b
    assert a[".env"] == b[".env"] and a["README.md"] == b["README.md"]
    return out, a, b


def untracked(root: Path) -> list[str]:
    return [line for line in git("status", "--porcelain", "--untracked-files=all", cwd=root).splitlines()
            if line.startswith("??")]


def waiting_for_lock(pid: int) -> bool:
    """Whether the process is blocked on a flock (Linux /proc/locks lists waiters with `->`)."""
    return any(line.split()[1] == "->" and line.split()[5] == str(pid)
               for line in Path("/proc/locks").read_text().splitlines() if len(line.split()) > 5)


def test_kill_9_during_the_write_leaves_the_old_or_the_new_directory(two_renders, workdir):
    """30 runs of `llmstack render` killed with SIGKILL at random moments of its write phase. To
    aim at that phase (milliseconds after about a second of start-up), the test holds the render
    lock until the render waits for it, lets go, and kills it a random moment later, over the
    time a write takes here."""
    out, a, b = two_renders
    repo = workdir / "compose"
    git("init", "-q", cwd=repo)
    git("add", ".", cwd=repo)
    git("commit", "-q", "-m", "A", cwd=repo)
    workspace = writer.workspace_of(out.resolve())
    key = a[".env"].decode().split("LITELLM_MASTER_KEY=")[1].strip()

    def run(port: str, kill_after: float | None) -> float:
        """Seconds from releasing the lock to the render's end (or its kill)."""
        with writer.locked(out.resolve()):
            proc = llmstack("render", *TINY, "--litellm-port", port, cwd=workdir)
            while not waiting_for_lock(proc.pid):
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                time.sleep(0.005)
        released = time.monotonic()
        if kill_after is not None:
            while time.monotonic() - released < kill_after and proc.poll() is None:
                pass
            proc.send_signal(signal.SIGKILL)
        proc.wait()
        return time.monotonic() - released

    # How long the write phase lasts here (lock released to the process gone), on this machine now.
    phase = sorted([run("4001", None), run("4000", None), run("4001", None)])[1]
    assert tree(out) == b
    rng = random.Random(16)
    outcomes = []
    for attempt in range(30):
        state = tree(out)
        target = "4000" if state == b else "4001"
        run(target, rng.uniform(0, phase * 1.5))
        after = tree(out)
        assert after in (a, b), (f"run {attempt}: a mix of two renders: "
                                 f"{sorted(k for k in after if after[k] != a.get(k))} differ from A, "
                                 f"{sorted(k for k in after if after[k] != b.get(k))} from B")
        outcomes.append("new" if after != state else "old")
        assert untracked(repo) == [], f"run {attempt}: something committable beside the stack"
        assert not [p for p in out.rglob("*") if "llmstack-tmp" in p.name or "llmstack-render" in p.name]
        # The key is in .env alone (or a hard link of it, in the workspace).
        for path in (workdir / "compose").rglob("*"):
            if path.is_file() and not path.is_symlink() and path.name != ".env" and path.suffix != ".gguf":
                assert key not in path.read_text(errors="replace"), path
    assert "old" in outcomes and "new" in outcomes, outcomes  # the kills did land inside the write
    run("4000", None)  # the next render finishes or undoes what a killed one left, then cleans up
    assert tree(out) == a and not workspace.exists()


def test_kill_9_during_the_first_render_leaves_nothing_or_the_whole_directory(cli, workdir):
    out = workdir / "compose" / "tiny"
    workspace = writer.workspace_of(out)
    rng = random.Random(7)
    for _ in range(5):
        proc = llmstack("render", *TINY, cwd=workdir)
        while proc.poll() is None and not workspace.exists():
            pass
        time.sleep(rng.uniform(0, 0.02))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if out.exists():  # complete, with its new key
            assert {".env", "docker-compose.yml", "litellm-config.yaml", ".gitignore", ".env.example",
                    "llmstack-manifest.yaml", "llmstack_startup.py"} == set(tree(out))
            break
        # Nothing at the output; whatever was staged sits in the owner-only, git-ignored workspace.
        if workspace.exists():
            assert os.stat(workspace).st_mode & 0o077 == 0
            if any(workspace.iterdir()):
                assert (workspace / ".gitignore").read_text().splitlines()[-1] == "*"
                assert not [p.name for p in workspace.iterdir() if p.name.startswith(".gitignore.")]
    assert cli("render", *TINY).exit_code == 0
    assert not workspace.exists() and (out / ".env").exists()


def _write_crashing_at(step: int, fallback: bool, out: Path, files: dict[str, str]) -> None:
    """In a forked child: write, exiting at once (as SIGKILL would) at the step-th call of a
    function that touches the disk."""
    calls = [0]

    def crashing(function):
        def run(*args, **kwargs):
            calls[0] += 1
            if calls[0] == step:
                os._exit(9)
            return function(*args, **kwargs)
        return run

    for name in ("_write_file", "_link_or_copy", "_fsync_dir", "exchange", "_remove"):
        setattr(writer, name, crashing(getattr(writer, name)))
    if fallback:
        writer.exchange = crashing(lambda a, b: False)
    os.rename = crashing(os.rename)
    try:
        writer.write(out, files, with_env=True)
    except BaseException:
        os._exit(1)
    os._exit(0)


def test_a_crash_between_any_two_steps_leaves_old_or_new(workdir, monkeypatch):
    """Every step of a write (file written, linked, synced, renamed, removed), crashed before in
    a forked child with os._exit: the directory is old or new, with RENAME_EXCHANGE and with the
    two-rename fallback (whose half-done swap the next render completes or undoes)."""
    out = workdir / "stack"
    old_files = {"a.yml": "# llmstack-hash: sha256:----------------\none\n", "b.yml": "two\n"}
    old_files = {name: stamp(text) for name, text in old_files.items()}
    new_files = {"a.yml": old_files["a.yml"].replace("one", "uno"), "b.yml": old_files["b.yml"], "c.yml": "three\n"}

    for fallback in (False, True):
        step = 0
        while True:
            step += 1
            if out.exists():
                writer._remove(out)
            writer._remove(writer.workspace_of(out))
            writer.write(out, old_files, with_env=True)
            (out / "notes.txt").write_text("mine\n")
            old = tree(out)
            pid = os.fork()
            if pid == 0:  # the child: crash at the step-th call
                _write_crashing_at(step, fallback, out, new_files)
            _, status = os.waitpid(pid, 0)
            code = os.waitstatus_to_exitcode(status)
            assert code in (0, 9), code
            with writer.locked(out) as workspace:  # what the next render does first
                writer._sweep(out, workspace)
            after = tree(out)
            expected_new = {**{k: v.encode() for k, v in new_files.items()}, ".env": old[".env"],
                            "notes.txt": b"mine\n"}
            assert after in (old, expected_new), (fallback, step, sorted(after))
            if code == 0:
                assert after == expected_new
                break
        assert step > 8


def test_eight_concurrent_renders_into_one_directory_do_not_mix(cli, workdir):
    out = workdir / "compose" / "tiny"
    for _round in range(2):
        procs = [llmstack("render", *TINY, "--litellm-port", str(4000 + i), cwd=workdir) for i in range(8)]
        errors = [proc.communicate()[1] for proc in procs]
        assert [proc.returncode for proc in procs] == [0] * 8, errors
        files = tree(out)
        headers = {name: text.decode().split("#   ", 1)[1].split("\n", 1)[0] for name, text in files.items()
                   if name != ".env"}
        assert len(set(headers.values())) == 1, headers  # every file from one and the same render
        regen = next(iter(headers.values())).split()
        assert cli(*regen[1:], "--check").exit_code == 0  # ...and exactly what that render writes
        assert files[".env"].decode().count("LITELLM_MASTER_KEY=") == 1
        assert not writer.workspace_of(out.resolve()).exists()


def test_a_failed_write_leaves_the_directory_as_it_was(workdir, monkeypatch):
    out = workdir / "stack"
    writer.write(out, {"a.yml": "one\n"}, with_env=True)
    before = tree(out)

    def refuse(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(writer, "exchange", refuse)
    from llmstack.errors import InputError

    with pytest.raises(InputError, match=r"cannot write there \(No space left on device\)"):
        writer.write(out, {"a.yml": "two\n"}, with_env=True, force=True)
    assert tree(out) == before and not writer.workspace_of(out).exists()


def test_the_workspace_is_ignored_by_git(workdir):
    out = workdir / "stack"
    git("init", "-q", cwd=workdir)
    with writer.locked(out) as workspace:
        (workspace / "new-x").mkdir()
        (workspace / "new-x" / "docker-compose.yml").write_text("x\n")
        (workspace / "new-x" / ".env").write_text("LITELLM_MASTER_KEY=sk-x\n")
        assert [line for line in untracked(workdir) if "llmstack-render" in line] == []
    assert not workspace.exists()


def test_lock_serialises_and_survives_a_removed_workspace(workdir):
    out = workdir / "stack"
    order: list[str] = []
    with writer.locked(out):
        def second() -> None:
            with writer.locked(out):
                order.append("second")

        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.2)
        order.append("first")
    thread.join(5)
    assert order == ["first", "second"]


def test_symlinked_output_directory_is_replaced_where_it_points(workdir):
    real = workdir / "real"
    writer.write(real, {"a.yml": "one\n"}, with_env=False)
    link = workdir / "link"
    link.symlink_to("real")
    writer.write(link, {"a.yml": "two\n"}, with_env=False, force=True)
    assert link.is_symlink() and (real / "a.yml").read_text() == "two\n"


@pytest.mark.parametrize("name", ["compose.override.yml", "compose.override.yaml", "docker-compose.override.yml",
                                  "docker-compose.override.yaml", "compose.yaml", "compose.yml"])
def test_check_fails_on_files_compose_would_load_beside_the_rendered_ones(cli, workdir, name):
    """On the code before: "up to date" with a committed override that Compose merges."""
    assert cli("render", *TINY).exit_code == 0
    out = workdir / "compose" / "tiny"
    (out / name).write_text("services:\n  litellm:\n    ports: ['0.0.0.0:4000:4000']\n")
    before = snapshot(workdir)
    result = cli("render", *TINY, "--check")
    assert result.exit_code == 1
    assert f"Compose would also load what render did not write: {name} (" in result.stderr
    assert "up to date" not in result.stdout
    assert snapshot(workdir) == before


def test_check_fails_on_compose_file_in_env(cli, workdir):
    assert cli("render", *TINY).exit_code == 0
    env = workdir / "compose" / "tiny" / ".env"
    env.write_text(env.read_text() + "COMPOSE_FILE=docker-compose.yml:extra.yml\n")
    result = cli("render", *TINY, "--check")
    assert result.exit_code == 1 and "COMPOSE_FILE in .env line 3" in result.stderr


def test_check_ignores_files_compose_does_not_load(cli, workdir):
    assert cli("render", *TINY).exit_code == 0
    out = workdir / "compose" / "tiny"
    (out / "README.md").write_text("notes\n")
    (out / "override.yml").write_text("services: {}\n")
    assert cli("render", *TINY, "--check").exit_code == 0


def test_a_directory_that_cannot_be_swapped_is_one_line(workdir, monkeypatch):
    out = workdir / "stack"
    writer.write(out, {"a.yml": "one\n"}, with_env=False)

    def busy(a, b):
        raise OSError(16, "Device or resource busy", str(a))

    monkeypatch.setattr(writer, "exchange", busy)
    from llmstack.errors import InputError

    with pytest.raises(InputError, match=r"cannot be replaced as a whole \(Device or resource busy\): it is a mount"):
        writer.write(out, {"a.yml": "two\n"}, with_env=False, force=True)
    assert (out / "a.yml").read_text() == "one\n" and not writer.workspace_of(out).exists()
