"""Benchmarks for vault, each reported as a ratio against a baseline measured in the same run.

Run through `scripts/bench`. Uses the real all-MiniLM-L6-v2 snapshot by default
(`--model DIR` for another folder, or `--size 2G --shards 4` for a synthetic
model of safetensors shards built here). Every child process is timed with wall
clock and its peak RSS is read from wait4's rusage.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
REPO = "sentence-transformers/all-MiniLM-L6-v2"
COMMIT = "1110a243fdf4706b3f48f1d95db1a4f5529b4d41"


def timed(cmd: list[str | os.PathLike[str]], **kw: object) -> tuple[float, int]:
    """(wall seconds, peak RSS in bytes) of one child process; fails loudly."""
    start = time.perf_counter()
    proc = subprocess.Popen([str(c) for c in cmd], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kw)
    _pid, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(
            f"bench: {' '.join(map(str, cmd))} failed: {proc.stderr.read().decode() if proc.stderr else ''}"
        )
    return elapsed, usage.ru_maxrss * 1024


def best(n: int, fn: object) -> tuple[float, int]:
    runs = [fn() for _ in range(n)]  # type: ignore[operator]
    return min(r[0] for r in runs), max(r[1] for r in runs)


def drop_file(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


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


def bench_resolve(tmp: Path, repeat: int) -> None:
    import random
    import statistics

    home = tmp / "resolve-home"
    refs = populate_catalog(home)
    revisions = sum("@" in r for r in refs)
    vault = VENV_BIN / "vault"
    rng = random.Random(7)
    picks = [rng.choice(refs) for _ in range(max(20, repeat * 7))]
    startup = statistics.median(timed([sys.executable, "-c", "pass"])[0] for _ in range(len(picks)))
    cmd = statistics.median(timed([vault, "--home", home, "path", ref])[0] for ref in picks)

    sys.path.insert(0, str(ROOT))
    import vault as vault_pkg

    vault_pkg.resolve(picks[0], home=home)  # warm: first call pays the module imports
    calls = [rng.choice(refs) for _ in range(5000)]
    start = time.perf_counter()
    for ref in calls:
        vault_pkg.resolve(ref, home=home)
    per_call = (time.perf_counter() - start) / len(calls)
    print(f"catalog: {revisions} revisions in {len(refs) - revisions} models")
    print(
        f"vault path (command) {cmd * 1000:6.1f} ms median (target < 100; "
        f"bare python start-up {startup * 1000:.1f} ms)"
    )
    print(f"vault.resolve()      {per_call * 1e6:6.0f} us per call over {len(calls)} calls (target < 1000)")


def parse_size(text: str) -> int:
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(float(text[:-1]) * units[text[-1].upper()]) if text[-1].upper() in units else int(text)


def synthetic_model(folder: Path, size: int, shards: int) -> Path:
    """A model of `shards` safetensors shards totalling about `size` bytes, with random F32 data."""
    import json
    import struct

    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"model_type": "bench", "shards": shards}))
    per = size // shards // 4 * 4
    rng = random_bytes()
    for i in range(shards):
        header = json.dumps(
            {f"w{i}": {"dtype": "F32", "shape": [per // 4], "data_offsets": [0, per]}}
        ).encode()
        header += b" " * (-len(header) % 8)
        with open(folder / f"model-{i + 1:05d}-of-{shards:05d}.safetensors", "wb") as fh:
            fh.write(struct.pack("<Q", len(header)) + header)
            left = per
            while left:
                chunk = rng[: min(left, len(rng))]
                fh.write(chunk)
                left -= len(chunk)
    return folder


def random_bytes() -> bytes:
    """64 MiB of random bytes, repeated to fill shards (hashing cost does not depend on content)."""
    return os.urandom(64 << 20)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", type=Path, default=ROOT / ".cache/models/all-MiniLM-L6-v2")
    ap.add_argument("--size", help="build a synthetic model of this size instead (e.g. 2G)")
    ap.add_argument("--shards", type=int, default=4, help="safetensors shards of the synthetic model")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    vault = VENV_BIN / "vault"
    with tempfile.TemporaryDirectory(prefix="vault-bench-") as tmpdir:
        tmp = Path(tmpdir)
        if args.size:
            args.model = synthetic_model(tmp / "synthetic-model", parse_size(args.size), args.shards)
        subprocess.run([vault, "keygen", "-o", tmp / "k"], check=True, capture_output=True)
        conn = tmp / "connected"
        size = sum(p.stat().st_size for p in args.model.rglob("*") if p.is_file())
        print(f"model: {args.model} ({size / 2**20:.1f} MiB)")

        add_t, add_rss = best(
            1, lambda: timed([vault, "--home", conn, "add", args.model, "--repo", REPO, "--revision", COMMIT])
        )
        sign_t, _ = best(
            args.repeat, lambda: timed([vault, "--home", conn, "sign", REPO, "--key", tmp / "k.pem"])
        )
        ms_sign_t, _ = best(
            args.repeat,
            lambda: timed(
                [
                    VENV_BIN / "model_signing",
                    "sign",
                    "key",
                    "--private_key",
                    tmp / "k.pem",
                    "--signature",
                    tmp / "ms.sig",
                    args.model,
                ]
            ),
        )
        bundle = tmp / "b.vault"
        bundle_t, _ = best(1, lambda: timed([vault, "--home", conn, "bundle", REPO, "-o", bundle]))

        def cp_sync() -> tuple[float, int]:
            drop_file(tmp / "copy")
            return timed(["sh", "-c", f"cp '{bundle}' '{tmp}/copy' && sync"])

        def import_once() -> tuple[float, int]:
            gap = tmp / "gap"
            drop_file(gap)
            subprocess.run(
                [vault, "--home", gap, "trust", "add", "c", "--key", tmp / "k.pub.pem", "--scope", "*"],
                check=True,
                capture_output=True,
            )
            subprocess.run(["sync"], check=True)
            return timed([vault, "--home", gap, "import", bundle])

        cp_t, _ = best(args.repeat, cp_sync)
        imp_t, imp_rss = best(args.repeat, import_once)
        ver_t, ver_rss = best(args.repeat, lambda: timed([vault, "--home", tmp / "gap", "verify", bundle]))
        store = tmp / "gap" / "store"
        cat_t, _ = best(
            args.repeat, lambda: timed(["sh", "-c", f"find '{store}' -type f -exec cat {{}} + >/dev/null"])
        )
        scrub_t, scrub_rss = best(args.repeat, lambda: timed([vault, "--home", tmp / "gap", "scrub"]))
        bench_resolve(tmp, args.repeat)
        bsize = bundle.stat().st_size

    mib = 2**20
    print(f"vault add            {add_t:6.2f} s   peak RSS {add_rss / mib:5.0f} MiB")
    print(
        f"vault sign           {sign_t:6.2f} s   model_signing sign key {ms_sign_t:.2f} s"
        f"   ratio {sign_t / ms_sign_t:.2f} (target <= 0.5)"
    )
    print(f"vault bundle         {bundle_t:6.2f} s   {bsize / mib / bundle_t:6.0f} MiB/s")
    print(f"cp + sync            {cp_t:6.2f} s   {bsize / mib / cp_t:6.0f} MiB/s")
    print(
        f"vault import         {imp_t:6.2f} s   {bsize / mib / imp_t:6.0f} MiB/s   "
        f"ratio vs cp+sync {cp_t / imp_t:.2f} (target >= 0.9)   "
        f"peak RSS {imp_rss / mib:.0f} MiB (target < 150)"
    )
    print(f"vault verify         {ver_t:6.2f} s   peak RSS {ver_rss / mib:.0f} MiB")
    print(
        f"vault scrub          {scrub_t:6.2f} s   cat of the same blobs {cat_t:.2f} s   "
        f"throughput ratio {cat_t / scrub_t:.2f} (target >= 0.75)   peak RSS {scrub_rss / mib:.0f} MiB"
    )


if __name__ == "__main__":
    main()
