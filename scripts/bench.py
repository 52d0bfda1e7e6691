"""Benchmarks for vault, each reported as a ratio against a baseline measured in the same run.

Run through `scripts/bench`. `--size 2G --shards 4` builds a synthetic model of
safetensors shards (random data); without it the real all-MiniLM-L6-v2
snapshot is used (`--model DIR` for another folder). Each vault command and
its plain-tool baseline run alternately, `--repeat` times, on fresh homes;
the median is reported, with the highest peak RSS any run of the command
reached (read from wait4's rusage). `--sparse 200G` adds a case of shards
that are holes (read as zeros): it shows memory staying flat and time
growing linearly far past this machine's disk.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
VAULT = VENV_BIN / "vault"
REPO = "acme/bench"
COMMIT = "1110a243fdf4706b3f48f1d95db1a4f5529b4d41"
MIB = 2**20


@dataclass
class Run:
    seconds: float
    rss: int  # peak resident set, bytes
    user: float = 0.0  # CPU seconds of the command and everything it waited for
    system: float = 0.0


@dataclass
class Measured:
    runs: list[Run]

    @property
    def median(self) -> float:
        return statistics.median(r.seconds for r in self.runs)

    @property
    def rss_mib(self) -> float:
        return max(r.rss for r in self.runs) / MIB

    @property
    def user(self) -> float:
        return statistics.median(r.user for r in self.runs)

    @property
    def system(self) -> float:
        return statistics.median(r.system for r in self.runs)

    def cpu_per_gib(self, size: int) -> str:
        """Median CPU seconds per GiB moved: user + system (the kernel's copies and page faults)."""
        gib = size / 2**30
        user, system = self.user / gib, self.system / gib
        return f"CPU {user + system:.2f} s/GiB ({user:.2f} u + {system:.2f} s)"


# Linux carries a process's peak RSS across execve, so a command started straight from
# this (large) process would report at least this process's size. A small launcher
# forks the command from itself and reports the command's own wall time and peak RSS.
_LAUNCHER = """
import os, resource, sys, time
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    try:
        os.execvp(sys.argv[1], sys.argv[1:])
    finally:
        os._exit(127)
_, status = os.waitpid(pid, 0)
elapsed = time.perf_counter() - start
used = resource.getrusage(resource.RUSAGE_CHILDREN)
print(elapsed, used.ru_maxrss * 1024, used.ru_utime, used.ru_stime, flush=True)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def timed(cmd: list[str | os.PathLike[str]], code: Path | None = None) -> Run:
    """Wall time, peak RSS and CPU time of one command; fails loudly. `code`: run the vault
    package found there instead of this checkout's (ahead of the editable install)."""
    env = {**os.environ, "PYTHONPATH": str(code)} if code is not None else None
    launch = [sys.executable, "-c", _LAUNCHER, *map(str, cmd)]
    proc = subprocess.run(launch, capture_output=True, text=True, check=False, env=env)
    if proc.returncode != 0:
        sys.exit(f"bench: {' '.join(map(str, cmd))} failed: {proc.stderr}")
    seconds, rss, user, system = proc.stdout.split()
    return Run(float(seconds), int(rss), float(user), float(system))


def vault(home: Path, *args: str | os.PathLike[str]) -> list[str | os.PathLike[str]]:
    return [VAULT, "--home", home, *args]


def quiet(cmd: list[str | os.PathLike[str]]) -> None:
    subprocess.run([str(c) for c in cmd], check=True, capture_output=True)


def drop(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()
    subprocess.run(["sync"], check=True)  # the next run starts with nothing dirty to write back


def alternate(n: int, *cases: Callable[[], Run]) -> list[Measured]:
    """Run the cases in turn, n rounds: disk and cache noise falls on each alike."""
    results: list[list[Run]] = [[] for _ in cases]
    for _ in range(n):
        for out, case in zip(results, cases, strict=True):
            out.append(case())
    return [Measured(r) for r in results]


def populate_catalog(home: Path, models: int = 1000, per_model: int = 10) -> list[str]:
    """A catalog with models x per_model revisions (10 files each), refs and directories; returns REFs."""
    import sqlite3

    sys.path.insert(0, str(ROOT))
    from vault.api import Vault

    Vault.open(home).close()  # schema by the real migrations
    db = sqlite3.connect(home / "catalog.db")
    refs = []
    with db:
        for m in range(models):
            repo = f"org{m % 50}/model-{m}"
            mid = db.execute("INSERT INTO models (repo_id) VALUES (?)", (repo,)).lastrowid
            for r in range(per_model):
                commit = f"{m:020x}{r:020x}"
                rid = db.execute(
                    'INSERT INTO revisions (model_id, "commit", source, status, fetched_at, created_at,'
                    " model_statement, provenance_statement)"
                    " VALUES (?, ?, 'hub', 'available', ?, ?, x'', x'')",
                    (mid, commit, f"2026-01-01T00:00:{r:02d}Z", "2026-01-01T00:00:00Z"),
                ).lastrowid
                db.executemany(
                    "INSERT OR IGNORE INTO blobs (sha256, size, blake3) VALUES (?, 1, ?)",
                    [(f"{m:032x}{r:016x}{f:016x}", "0" * 64) for f in range(10)],
                )
                db.executemany(
                    "INSERT INTO files (revision_id, path, sha256, size) VALUES (?, ?, ?, 1)",
                    [(rid, f"file-{f}.json", f"{m:032x}{r:016x}{f:016x}") for f in range(10)],
                )
                (home / "models" / repo / commit).mkdir(parents=True)
                refs.append(f"{repo}@{commit}")
            db.execute("INSERT INTO refs (model_id, name, revision_id) VALUES (?, 'main', ?)", (mid, rid))
            refs.append(repo)
    db.close()
    return refs


def bench_resolve(tmp: Path, repeat: int) -> list[str]:
    import random

    home = tmp / "resolve-home"
    refs = populate_catalog(home)
    revisions = sum("@" in r for r in refs)
    rng = random.Random(7)
    picks = [rng.choice(refs) for _ in range(max(20, repeat * 7))]
    path_runs = Measured([timed(vault(home, "path", ref)) for ref in picks])

    sys.path.insert(0, str(ROOT))
    import vault as vault_pkg

    vault_pkg.resolve(picks[0], home=home)  # warm: first call pays the module imports
    calls = [rng.choice(refs) for _ in range(5000)]
    start = time.perf_counter()
    for ref in calls:
        vault_pkg.resolve(ref, home=home)
    per_call = (time.perf_counter() - start) / len(calls)
    return [
        f"catalog of {revisions} revisions in {len(refs) - revisions} models:",
        f"vault path (command)   {path_runs.median * 1000:6.1f} ms median (<= 100 ms)  "
        f"peak RSS {path_runs.rss_mib:4.0f} MiB",
        f"vault.resolve()        {per_call * 1e6:6.0f} us per call over {len(calls)} calls (<= 1000 us)",
    ]


def parse_size(text: str) -> int:
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    return int(float(text[:-1]) * units[text[-1].upper()]) if text[-1].upper() in units else int(text)


def _shard_header(name: str, span: int) -> bytes:
    header = json.dumps({name: {"dtype": "F32", "shape": [span // 4], "data_offsets": [0, span]}}).encode()
    header += b" " * (-len(header) % 8)
    return struct.pack("<Q", len(header)) + header


def synthetic_model(folder: Path, size: int, shards: int, sparse: bool = False) -> Path:
    """`shards` safetensors shards totalling about `size` bytes: random F32 data, or holes (`sparse`)."""
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"model_type": "bench", "shards": shards}))
    per = size // shards // 4 * 4
    noise = b"" if sparse else os.urandom(64 << 20)  # repeated: hashing cost does not depend on content
    for i in range(shards):
        with open(folder / f"model-{i + 1:05d}-of-{shards:05d}.safetensors", "wb") as fh:
            fh.write(_shard_header(f"w{i}", per))
            if sparse:
                fh.truncate(fh.tell() + per)  # what `truncate -s` makes: no block on disk
                continue
            left = per
            while left:
                chunk = noise[: min(left, len(noise))]
                fh.write(chunk)
                left -= len(chunk)
    return folder


def tree_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def trusting_home(home: Path, key: Path) -> Path:
    drop(home)
    quiet(vault(home, "trust", "add", "site", "--key", key, "--scope", "*"))
    return home


def row(label: str, m: Measured, baseline: str, b: Measured | None, ratio: str, target: str) -> str:
    base = f"{baseline} {b.median:6.2f} s" if b is not None else baseline
    return f"{label:22} {m.median:7.3f} s  {base:34} {ratio:22} {target:14} peak RSS {m.rss_mib:4.0f} MiB"


def bench_model(tmp: Path, model: Path, repeat: int) -> list[str]:
    """Every byte-moving command against its plain-tool baseline on `model`."""
    key = tmp / "k"
    quiet([VAULT, "keygen", "-o", key])
    pub, priv = Path(f"{key}.pub.pem"), Path(f"{key}.pem")
    conn = tmp / "conn"
    add_args = ("add", model, "--repo", REPO, "--revision", COMMIT)

    def cp_r() -> Run:
        drop(tmp / "copy")
        return timed(["sh", "-c", f"cp -r '{model}' '{tmp}/copy' && sync"])

    def add() -> Run:
        drop(conn)
        return timed(vault(conn, *add_args))

    def sign() -> Run:
        return timed(vault(conn, "sign", REPO, "--key", priv))

    def ms_sign() -> Run:
        drop(tmp / "ms.sig")
        ms = [VENV_BIN / "model_signing", "sign", "key", "--private_key", priv, "--signature", tmp / "ms.sig"]
        return timed([*ms, model])

    cp_m, add_m = alternate(repeat, cp_r, add)
    add_sign: list[Run] = []
    ms_runs: list[Run] = []
    sign_runs: list[Run] = []
    for _ in range(repeat):
        a, g = add(), sign()
        sign_runs.append(g)
        add_sign.append(Run(a.seconds + g.seconds, max(a.rss, g.rss), a.user + g.user, a.system + g.system))
        ms_runs.append(ms_sign())
    add_sign_m, ms_m, sign_m = Measured(add_sign), Measured(ms_runs), Measured(sign_runs)

    bundle = tmp / "b.vault"
    bundle_m = Measured([timed(vault(conn, "bundle", REPO, "-o", bundle))])
    bsize = bundle.stat().st_size
    gap = tmp / "gap"

    def cp_bundle() -> Run:
        drop(tmp / "copy")
        return timed(["sh", "-c", f"cp '{bundle}' '{tmp}/copy' && sync"])

    def import_() -> Run:
        trusting_home(gap, pub)
        return timed(vault(gap, "import", bundle))

    cp_b, imp_m = alternate(repeat, cp_bundle, import_)
    drop(tmp / "copy")
    ms_verify = [VENV_BIN / "model_signing", "verify", "key", "--public_key", pub]
    ms_verify += ["--signature", tmp / "ms.sig"]
    ms_ver_m, ver_m = alternate(
        repeat, lambda: timed([*ms_verify, model]), lambda: timed(vault(gap, "verify", bundle))
    )
    store = gap / "store"
    cat_m, scrub_m = alternate(
        repeat,
        lambda: timed(["sh", "-c", f"find '{store}' -type f -exec cat {{}} + >/dev/null"]),
        lambda: timed(vault(gap, "scrub")),
    )
    msize = tree_size(model)
    slower = max(cp_m.median, ms_m.median)
    return [
        f"model: {model} ({msize / MIB:.1f} MiB), bundle {bsize / MIB:.1f} MiB, median of {repeat}",
        row("vault add", add_m, "cp -r + sync", cp_m, f"throughput {cp_m.median / add_m.median:.2f}x",
            "(>= 0.8)"),
        row("vault add + sign", add_sign_m, f"slower of cp -r+sync, ms sign {slower:.2f} s", None,
            f"time {add_sign_m.median / slower:.2f}x", "(<= 1.15)"),
        row("vault sign", sign_m, "model_signing sign key", ms_m, f"time {sign_m.median / ms_m.median:.2f}x",
            "(<= 0.5)"),
        row("vault bundle", bundle_m, f"{bsize / MIB / bundle_m.median:.0f} MiB/s", None, "", ""),
        row("vault import", imp_m, "cp + sync", cp_b, f"throughput {cp_b.median / imp_m.median:.2f}x",
            "(>= 0.85)"),
        row("vault verify", ver_m, "model_signing verify key", ms_ver_m,
            f"time {ver_m.median / ms_ver_m.median:.2f}x", "(<= 1.0)"),
        row("vault scrub", scrub_m, "cat", cat_m, f"throughput {cat_m.median / scrub_m.median:.2f}x",
            "(>= 0.6)"),
        "CPU per GiB (median user + system; the limit is what the hashing alone needs):",
        f"  vault add     {add_m.cpu_per_gib(msize)}   cp -r + sync {cp_m.cpu_per_gib(msize)}",
        f"  vault import  {imp_m.cpu_per_gib(bsize)} (<= 1.8)   cp + sync {cp_b.cpu_per_gib(bsize)}",
        f"  vault bundle  {bundle_m.cpu_per_gib(bsize)}",
        f"  vault verify  {ver_m.cpu_per_gib(bsize)}   model_signing verify {ms_ver_m.cpu_per_gib(msize)}",
        f"  vault scrub   {scrub_m.cpu_per_gib(msize)}   cat {cat_m.cpu_per_gib(msize)}",
        *hashing_limits(model),
    ]  # fmt: skip


def hashing_limits(model: Path) -> list[str]:
    """The floor each command is compared with: sha256 and blake3 of the model's largest file, in
    process, per core (what a command that hashes every byte once cannot go below)."""
    import hashlib
    import mmap

    import blake3

    largest = max((p for p in model.rglob("*") if p.is_file()), key=lambda p: p.stat().st_size)
    size = largest.stat().st_size
    rates: dict[str, float] = {}
    with open(largest, "rb") as fh, mmap.mmap(fh.fileno(), 0, prot=mmap.PROT_READ) as mapped:
        view = memoryview(mapped)
        for name, make in (("sha256", hashlib.sha256), ("blake3", blake3.blake3)):
            best = 0.0
            for _ in range(3):
                start, h = time.process_time(), make()
                for offset in range(0, size, 8 * MIB):
                    h.update(view[offset : offset + 8 * MIB])
                best = max(best, size / max(time.process_time() - start, 1e-9))
            rates[name] = best
        view.release()
    floor = 2**30 / rates["sha256"] + 2**30 / rates["blake3"]
    return [
        f"  per core: sha256 {rates['sha256'] / 1e9:.2f} GB/s, blake3 {rates['blake3'] / 1e9:.2f} GB/s: "
        f"hashing one GiB with both takes {floor:.2f} CPU-s; one stream per core "
        f"{2**30 / floor / 1e9:.2f} GB/s, sha256 || blake3 on two cores {rates['sha256'] / 1e9:.2f} GB/s"
    ]


def bench_startup(tmp: Path, repeat: int) -> list[str]:
    """Read-only commands on a small catalog, against a bare interpreter's start-up."""
    home, key = tmp / "startup", tmp / "sk"
    model = tmp / "tiny"
    model.mkdir()
    (model / "config.json").write_text("{}")
    quiet([VAULT, "keygen", "-o", key])
    quiet(vault(home, "add", model, "--repo", REPO, "--revision", COMMIT))
    quiet(vault(home, "sign", REPO, "--key", f"{key}.pem"))
    tiny = tmp / "tiny.vault"
    quiet(vault(home, "bundle", REPO, "-o", tiny))
    gap = trusting_home(tmp / "startup-gap", Path(f"{key}.pub.pem"))
    n = max(repeat, 7)
    commands = {
        "list": vault(home, "list"),
        "show": vault(home, "show", REPO),
        "provenance": vault(home, "provenance", REPO),
        "verify (tiny bundle)": vault(gap, "verify", tiny),
    }  # `vault path` is measured by bench_resolve, on a 10k-revision catalog
    bare, *measured = alternate(n, lambda: timed([sys.executable, "-c", "pass"]),
                                *(lambda c=c: timed(c) for c in commands.values()))  # fmt: skip
    lines = [f"start-up, median of {n}: bare python {bare.median * 1000:.0f} ms"]
    for name, m in zip(commands, measured, strict=True):
        over = (m.median - bare.median) * 1000  # what vault adds to the interpreter, less machine-bound
        lines.append(f"vault {name:20} {m.median * 1000:6.0f} ms (<= 150 ms)  +{over:4.0f} ms over bare "
                     f"python  peak RSS {m.rss_mib:4.0f} MiB")  # fmt: skip
    return lines


def bench_sparse(tmp: Path, size: int, shards: int) -> list[str]:
    """The whole round trip on shards that are holes: time per GB and peak memory, one run each."""
    model = synthetic_model(tmp / "sparse-model", size, shards, sparse=True)
    key = tmp / "sparse-k"
    quiet([VAULT, "keygen", "-o", key])
    conn, gap, bundle = tmp / "sparse-conn", tmp / "sparse-gap", tmp / "sparse.vault"
    steps = {
        "add": vault(conn, "add", model, "--repo", REPO, "--revision", COMMIT),
        "sign": vault(conn, "sign", REPO, "--key", f"{key}.pem"),
        "bundle": vault(conn, "bundle", REPO, "-o", bundle),
        "verify": vault(gap, "verify", bundle),
        "import": vault(gap, "import", bundle),
        "scrub": vault(gap, "scrub"),
    }
    lines = [f"sparse model: {shards} shards of holes, {size / 1e9:.0f} GB"]
    for name, cmd in steps.items():
        if name == "verify":
            trusting_home(gap, Path(f"{key}.pub.pem"))
        r = timed(cmd)
        target = "(>= 1.6)" if name in ("add", "bundle", "import", "verify") else "        "
        lines.append(
            f"vault {name:8} {r.seconds:8.1f} s  {size / 1e9 / r.seconds:6.2f} GB/s {target}  "
            f"CPU {(r.user + r.system) / (size / 2**30):.2f} s/GiB  peak RSS {r.rss / MIB:4.0f} MiB (< 150)"
        )
    used = sum(p.stat().st_blocks * 512 for d in (conn, gap) for p in d.rglob("*") if p.is_file())
    used += bundle.stat().st_blocks * 512
    lines.append(f"disk used by both homes and the bundle: {used / MIB:.0f} MiB")
    return lines


def bench_against(tmp: Path, model: Path, rev: str, repeat: int) -> list[str]:
    """add, bundle, verify, import and scrub of `model` by the vault of git revision `rev` and by this
    checkout, alternating in one run: on a disk whose speed moves from run to run, the fair
    comparison of two versions."""
    old = tmp / "against"
    old.mkdir()
    git = ["git", "-C", str(ROOT), "archive", rev, "vault"]
    archive = subprocess.run(git, check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(old)], input=archive.stdout, check=True)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(old / "vault")], check=True)
    key = tmp / "ak"
    quiet([VAULT, "keygen", "-o", key])
    src, gap, bundle = tmp / "a-conn", tmp / "a-gap", tmp / "a.vault"
    quiet(vault(src, "add", model, "--repo", REPO, "--revision", COMMIT))
    quiet(vault(src, "sign", REPO, "--key", f"{key}.pem"))
    quiet(vault(src, "bundle", REPO, "-o", bundle))
    runs: dict[tuple[str, str], list[Run]] = {}
    for _ in range(repeat):
        for label, code in ((rev, old), ("this", ROOT)):
            drop(tmp / "a-add")
            cmds = {
                "add": vault(tmp / "a-add", "add", model, "--repo", REPO, "--revision", COMMIT),
                "bundle": vault(src, "bundle", REPO, "-o", tmp / "a-out.vault"),
            }
            for name, cmd in cmds.items():
                runs.setdefault((name, label), []).append(timed(cmd, code))
            trusting_home(gap, Path(f"{key}.pub.pem"))
            runs.setdefault(("verify", label), []).append(timed(vault(gap, "verify", bundle), code))
            runs.setdefault(("import", label), []).append(timed(vault(gap, "import", bundle), code))
            runs.setdefault(("scrub", label), []).append(timed(vault(gap, "scrub"), code))
            drop(tmp / "a-out.vault")
    lines = [f"{rev} against this checkout, alternating, median of {repeat}:"]
    for name in ("add", "bundle", "verify", "import", "scrub"):
        a, b = Measured(runs[(name, rev)]), Measured(runs[(name, "this")])
        lines.append(
            f"  vault {name:7} {a.median:6.2f} s -> {b.median:6.2f} s ({a.median / b.median:.2f}x)   "
            f"CPU {a.user + a.system:5.2f} -> {b.user + b.system:5.2f} s"
        )
    return lines


def bench_parity(tmp: Path, model: Path, repeat: int, parts: int = 8, parity: int = 2) -> list[str]:
    """Parity parts: what writing them and rebuilding a lost part cost, against the same commands without.

    Encode: `bundle --parity` against `bundle` (same split). Decode: `import` of
    the bundle with one data part deleted against `import` of the whole one;
    the difference is the media check, the rebuild and the second read.
    Also the Reed-Solomon codec alone (zfec, in this process) on the parts.
    """
    key = tmp / "pk"
    quiet([VAULT, "keygen", "-o", key])
    conn = tmp / "parity-conn"
    quiet(vault(conn, "add", model, "--repo", REPO, "--revision", COMMIT))
    quiet(vault(conn, "sign", REPO, "--key", f"{key}.pem"))
    size = tree_size(model)
    split = str(max(1 << 20, -(-size // parts)))
    plain_out, par_out = tmp / "plain" / "b.vault", tmp / "par" / "b.vault"

    def plain() -> Run:
        drop(plain_out.parent)
        return timed(vault(conn, "bundle", REPO, "-o", plain_out, "--split-size", split))

    def with_parity() -> Run:
        drop(par_out.parent)
        return timed(
            vault(conn, "bundle", REPO, "-o", par_out, "--split-size", split, "--parity", str(parity))
        )

    plain_m, par_m = alternate(repeat, plain, with_parity)
    data_parts = sorted(par_out.parent.glob("b.vault.[0-9][0-9][0-9]"))
    bsize = sum(p.stat().st_size for p in data_parts)
    gap, lost = tmp / "parity-gap", data_parts[len(data_parts) // 2]
    spare = tmp / "spare-part"
    shutil.copy(lost, spare)

    def intact() -> Run:
        trusting_home(gap, Path(f"{key}.pub.pem"))
        shutil.copy(spare, lost)
        return timed(vault(gap, "import", par_out))

    def one_lost() -> Run:
        trusting_home(gap, Path(f"{key}.pub.pem"))
        lost.unlink(missing_ok=True)
        return timed(vault(gap, "import", par_out))

    intact_m, lost_m = alternate(repeat, intact, one_lost)
    shutil.copy(spare, lost)
    enc, dec = _codec_speed(data_parts, parity, tmp)
    mb = bsize / 1e6
    return [
        f"parity: bundle {bsize / MIB:.1f} MiB in {len(data_parts)} parts, +{parity} parity parts, "
        f"median of {repeat}",
        row("bundle --parity", par_m, "bundle", plain_m,
            f"time {par_m.median / plain_m.median:.2f}x", ""),
        row("import, 1 part lost", lost_m, "import, intact", intact_m,
            f"time {lost_m.median / intact_m.median:.2f}x", ""),
        f"zfec alone over the parts: encode {enc:.0f} MB/s of data, rebuild of one part {dec:.0f} MB/s "
        f"of data read ({mb:.0f} MB)",
    ]  # fmt: skip


def _codec_speed(parts: list[Path], parity: int, tmp: Path) -> tuple[float, float]:
    """Throughput of the library's own encoder and decoder over real parts (MB/s of data parts read)."""
    sys.path.insert(0, str(ROOT))
    from vault._bundle.parity import read_parity_parts, rebuild, write_parity
    from vault._bundle.part_digests import BlockHasher, PartDigests

    total = sum(p.stat().st_size for p in parts)
    plan = PartDigests.placeholder(total, parts[0].stat().st_size, 1)
    hasher = BlockHasher(plan, total)  # the table the bundle writer would have taken as it wrote
    for p in parts:
        hasher.update(p.read_bytes())
    out = tmp / "codec" / "b.vault"
    out.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    write_parity(parts, out, hasher.table(), total, parity, "")
    encode = total / 1e6 / (time.perf_counter() - start)
    shares = {p.header.share: p for p in read_parity_parts(out)}
    header = next(iter(shares.values())).header
    good = {i: p for i, p in enumerate(parts) if i != 0}
    start = time.perf_counter()
    rebuild(header, good, shares, [0], lambda i: tmp / "codec" / f"rebuilt-{i}")
    decode = total / 1e6 / (time.perf_counter() - start)
    return encode, decode


# oras-py's push as its users run it, with the credentials sent from the first request (without
# them each blob travels twice) and its chunked upload (its one-PUT upload holds a whole file in memory).
_ORAS_PUSH = """
import base64, os, sys
import oras.provider
host, repo, ca, user, password, folder = sys.argv[1:7]
client = oras.provider.Registry(hostname=host, tls_verify=ca, auth_backend="basic")
client.auth.set_basic_auth(user, password)
client.set_header("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())
os.chdir(folder)
files = sorted(os.path.relpath(os.path.join(r, f), folder) for r, _d, fs in os.walk(folder) for f in fs)
client.push(target=f"{host}/{repo}:v1", files=files, disable_path_validation=True, do_chunked=True)
"""


def bench_registry(tmp: Path, model: Path, repeat: int) -> list[str]:
    """`vault publish` against oras-py's push of the same files to the same local registry (TLS,
    htpasswd, Debian's docker-registry), each run into a fresh repository so every blob is sent;
    then a revision that changes one shard, published over the first."""
    sys.path.insert(0, str(ROOT))
    from tests.registry import PASSWORD, USER, Registry

    registry = Registry(tmp / "registry")
    registry.setup()
    registry.start()
    try:
        key = tmp / "rk"
        quiet([VAULT, "keygen", "-o", key])
        home = tmp / "publisher"
        quiet(vault(home, "add", model, "--repo", REPO, "--revision", COMMIT))
        quiet(vault(home, "sign", REPO, "--key", f"{key}.pem"))
        auth = registry.auth_file()
        os.environ["REGISTRY_AUTH_FILE"] = str(auth)
        size = tree_size(model)
        runs = iter(range(10**6))

        def publish() -> Run:
            ref = registry.ref(f"bench/vault-{next(runs)}:v1")
            return timed(vault(home, "publish", REPO, ref, "--ca-file", registry.ca))

        def oras_push() -> Run:
            repo = f"bench/oras-{next(runs)}"
            return timed(
                [sys.executable, "-c", _ORAS_PUSH, registry.host, repo, registry.ca, USER, PASSWORD, model]
            )

        vault_m, oras_m = alternate(repeat, publish, oras_push)
        ratio = (size / vault_m.median) / (size / oras_m.median)
        lines = [
            f"registry: {size / 2**30:.2f} GiB in {sum(1 for p in model.rglob('*') if p.is_file())} files",
            row("vault publish", vault_m, "oras push", oras_m, f"{ratio:.2f}x throughput", ">= 0.8x"),
            f"{'':22} {vault_m.cpu_per_gib(size)}; oras push {oras_m.cpu_per_gib(size)}, "
            f"peak RSS {oras_m.rss_mib:.0f} MiB",
        ]
        # One shard changes: the next revision's publish sends that shard only.
        changed = tmp / "changed-model"
        shutil.copytree(model, changed)
        shard = sorted(changed.glob("*.safetensors"))[0]
        with open(shard, "r+b") as fh:
            fh.seek(-4096, os.SEEK_END)
            fh.write(os.urandom(4096))
        quiet(vault(home, "add", changed, "--repo", REPO, "--revision", "v2"))
        quiet(vault(home, "sign", f"{REPO}@v2", "--key", f"{key}.pem"))
        ref = registry.ref("bench/vault-0:v2")
        out = subprocess.run([str(c) for c in vault(home, "--json", "publish", f"{REPO}@v2", ref, "--ca-file",
                              registry.ca)], capture_output=True, text=True, check=True)  # fmt: skip
        done = json.loads(out.stdout)
        lines.append(
            f"{'republish, 1 shard changed':28} sent {done['uploaded_blobs']} blob(s), "
            f"{done['uploaded_bytes'] / 2**20:.1f} MiB "
            f"({shard.name}: {shard.stat().st_size / 2**20:.1f} MiB); "
            f"{done['reused_blobs']} already there"
        )
        return lines
    finally:
        registry.stop()
        os.environ.pop("REGISTRY_AUTH_FILE", None)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", type=Path, default=ROOT / ".cache/models/all-MiniLM-L6-v2")
    ap.add_argument("--size", help="build a synthetic model of this size instead (e.g. 2G)")
    ap.add_argument("--shards", type=int, default=4, help="safetensors shards of the synthetic model")
    ap.add_argument("--repeat", type=int, default=5, help="runs of each command; the median is reported")
    ap.add_argument("--sparse", help="also run the round trip on sparse shards of this size (e.g. 200G)")
    ap.add_argument("--skip-model", action="store_true", help="only start-up, resolve and --sparse")
    ap.add_argument("--parity", type=int, default=2, help="parity parts in the parity case (0 skips it)")
    ap.add_argument(
        "--against", metavar="REV", help="also run add/bundle/verify/import/scrub by REV's vault, alternating"
    )
    ap.add_argument(
        "--registry",
        action="store_true",
        help="instead of the other model cases: vault publish against oras push",
    )
    args = ap.parse_args()
    # Byte-compiled as an installed wheel is: with PYTHONDONTWRITEBYTECODE set (as on this machine
    # kind), an editable checkout would otherwise compile ~100 modules again in every command.
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "vault")], check=True)
    lines: list[str] = [f"machine: {os.cpu_count()} cores, python {sys.version.split()[0]}"]
    with tempfile.TemporaryDirectory(prefix="vault-bench-", dir=os.environ.get("VAULT_BENCH_DIR")) as tmpdir:
        tmp = Path(tmpdir)
        if not args.skip_model:
            model = args.model
            if args.size:
                model = synthetic_model(tmp / "synthetic-model", parse_size(args.size), args.shards)
            if args.registry:
                lines += bench_registry(tmp, model, args.repeat)
            else:
                if args.against:
                    lines += bench_against(tmp, model, args.against, args.repeat)
                lines += bench_model(tmp, model, args.repeat)
                if args.parity:
                    lines += bench_parity(tmp, model, args.repeat, parity=args.parity)
        lines += bench_startup(tmp, args.repeat)
        lines += bench_resolve(tmp, args.repeat)
        if args.sparse:
            lines += bench_sparse(tmp, parse_size(args.sparse), args.shards)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
