"""The jobs API against bare DRF endpoints, on one gunicorn server with the production settings.

    python bench/api/run.py [--seconds 8] [--connections 16] [--workers 4] [--rounds 2]

Load comes from wrk (Debian's `wrk`, installed if missing) in another process on loopback, bounded
in time. Compares POST /api/v1/jobs with a bare endpoint inserting one row through a ModelSerializer,
and GET /api/v1/jobs/{id} with a bare endpoint returning a constant; then measures the status
endpoint's latency at half its saturating rate. Targets: submit >= 0.5 x bare insert, status >= 0.6 x
bare constant, status p99 < 50 ms at half load.

A third bare endpoint, the floor, does only what any status poll of this design must: one run of the
rate limiter's Redis script and one job row read by its key. Its ratio to the constant bounds what
the status endpoint can reach on this server.
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))

from bench.common import BIN, ROOT, bench_env, prepare_database  # noqa: E402

UNLIMITED = 10**9
LUA = """
wrk.method = "{method}"
wrk.body = {body}
wrk.headers["Content-Type"] = "application/json"
{auth}
{pace}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=16)
    # As deployed: the Dockerfile, compose and the systemd unit run gunicorn with 4 processes.
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    _ensure_wrk()

    env = bench_env(
        "api",
        DJANGO_SETTINGS_MODULE="bench.api.settings",
        RATE_LIMIT_PER_MINUTE=UNLIMITED,
        RATE_LIMIT_PER_DAY=UNLIMITED,
        RATE_LIMIT_PER_HOUR_PER_TYPE=UNLIMITED,
        RATE_LIMIT_READS_PER_MINUTE=UNLIMITED,
        RATE_LIMIT_WRITES_PER_MINUTE=UNLIMITED,
        ALLOWED_HOSTS="127.0.0.1",
    )
    prepare_database(env)
    key = _django(env, "create_tenant bench --name Bench && create_api_key --tenant bench")
    port = _free_port()
    server = subprocess.Popen(
        [
            str(BIN / "gunicorn"),
            "config.wsgi:application",
            "-w",
            str(args.workers),
            "-b",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for_server(base)
        job_id = _submit_one(base, key)
        runs = {
            "submit": (
                "/api/v1/jobs",
                {"method": "POST", "body": {"type": "diagnostic", "payload": {"steps": 0}}},
                key,
            ),
            "insert": (
                "/bench/insert",
                {"method": "POST", "body": {"name": "bench", "counts": {"n": 1}}},
                None,
            ),
            "status": (f"/api/v1/jobs/{job_id}", {}, key),
            "constant": ("/bench/constant", {}, None),
            "floor": (f"/bench/floor/{job_id}", {}, None),
        }
        results = {name: [] for name in runs}
        # Each pair alternates; the best round of each endpoint is kept (the machine's other load
        # only ever slows a round down).
        for _ in range(args.rounds):
            for name, (path, options, auth) in runs.items():
                results[name].append(_wrk(f"{base}{path}", args, key=auth, **options))
        submit, insert, status, constant, floor = (
            max(results[name], key=lambda result: result["rps"]) for name in runs
        )
        half = _wrk(f"{base}/api/v1/jobs/{job_id}", args, key=key, rate=status["rps"] / 2)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)

    print(
        f"gunicorn workers: {args.workers}, wrk: {args.connections} connections x {args.seconds}s,"
        f" best of {args.rounds} rounds"
    )
    print(f"{'endpoint':<34}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}")
    for name, result in [
        ("POST /api/v1/jobs", submit),
        ("bare insert (ModelSerializer)", insert),
        ("GET /api/v1/jobs/{id}", status),
        ("bare constant", constant),
        ("floor: limiter + row, nothing else", floor),
        ("GET /api/v1/jobs/{id} at half load", half),
    ]:
        print(f"{name:<34}{result['rps']:>10.0f}{result['p50']:>10.2f}{result['p99']:>10.2f}")
    print(f"submit / bare insert   : {submit['rps'] / insert['rps']:.2f}  (target >= 0.5)")
    print(f"status / bare constant : {status['rps'] / constant['rps']:.2f}  (target >= 0.6)")
    print(f"status p99 at half load: {half['p99']:.1f} ms  (target < 50 ms)")
    print(
        f"floor / bare constant  : {floor['rps'] / constant['rps']:.2f}"
        "  (the most a poll that counts its read and reads its row can reach)"
    )


def _ensure_wrk() -> None:
    if shutil.which("wrk"):
        return
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    subprocess.run([*sudo, "apt-get", "install", "-y", "-q", "wrk"], check=True)


def _django(env: dict, commands: str) -> str:
    output = ""
    for command in commands.split(" && "):
        result = subprocess.run(
            [str(BIN / "python"), "manage.py", *command.split()],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        output = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    return output


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_server(base: str) -> None:
    import httpx

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz").status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise TimeoutError("gunicorn did not start")


def _submit_one(base: str, key: str) -> str:
    import httpx

    response = httpx.post(
        f"{base}/api/v1/jobs",
        json={"type": "diagnostic", "payload": {"steps": 0}},
        headers={"Authorization": f"Bearer {key}"},
    )
    response.raise_for_status()
    return response.json()["id"]


def _wrk(url: str, args, *, method="GET", body=None, key=None, rate=None) -> dict:
    pace = ""
    if rate:
        # Each connection waits so that all of them together send about `rate` requests a second.
        pace = f"function delay() return {args.connections * 1000 / rate:.3f} end"
    script = LUA.format(
        method=method,
        body=json.dumps(json.dumps(body)) if body is not None else "nil",
        auth=f'wrk.headers["Authorization"] = "Bearer {key}"' if key else "",
        pace=pace,
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as lua:
        lua.write(script)
        lua.flush()
        result = subprocess.run(
            [
                "wrk",
                "-t",
                "2",
                "-c",
                str(args.connections),
                "-d",
                f"{args.seconds}s",
                "--latency",
                "-s",
                lua.name,
                url,
            ],
            check=True,
            capture_output=True,
            text=True,
        )
    return _parse(result.stdout)


def _parse(output: str) -> dict:
    def latency(percent: str) -> float:
        match = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
        value, unit = float(match.group(1)), match.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if errors:
        raise RuntimeError(f"{errors.group(1)} failed responses:\n{output}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    return {"rps": rps, "p50": latency("50"), "p99": latency("99")}


if __name__ == "__main__":
    main()
