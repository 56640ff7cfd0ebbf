"""Push replication from Berth to a CNCF Distribution, next to `skopeo sync` between the same endpoints in the
same run (issue #14's target: >= 1.2x skopeo sync's throughput, with each side's memory ceiling printed).

Starts the whole stack (the launcher, as `make run` does), pushes N images of two random layers each into
one repository of Berth, then, in alternating rounds, copies them all to an empty Debian CNCF Distribution
(a new one for every copy, so that nothing is skipped or mounted from an earlier one) with a replication
execution (the jobservice) and with `skopeo sync` (the same
source repository and credentials). Each side's time is the wall clock from the start to the last byte
(Berth: POST /replication/executions until the execution has ended; skopeo: the process's run, with
--preserve-digests so that it too writes the manifests as they are); its memory
ceiling is the highest resident set size sampled every 50 ms (the jobservice process; skopeo). Every copy is
checked afterwards: each tag's manifest digest on the destination is the source's.

    .venv/bin/python -m bench.replication_bench                 # 100 images of 10 MiB, 2 rounds
    .venv/bin/python -m bench.replication_bench --images 20     # a quicker look
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from bench.common import cleaned_up
from services.common.oci import mediatypes as mt
from tests.harness.distribution import DistributionProcess
from tests.harness.oci import digest_of, push_image
from tests.harness.plugin import RegistryEndpoint
from tests.harness.stack import ADMIN_PASSWORD, StackProcess, fresh_stack

ADMIN = ("admin", ADMIN_PASSWORD)
USER, PASSWORD = "bench", "Bench-Pass-1"
PROJECT, REPOSITORY = "benchrep", "benchrep/img"
TARGET_RATIO = 1.2
DEADLINE_S = 3600


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class PeakRss:
    """The highest resident set size of the processes `pids()` names, sampled in the background."""

    def __init__(self, pids: Callable[[], list[int]]) -> None:
        self._pids = pids
        self.peak_kib = 0
        self._task: asyncio.Task[None] | None = None

    async def _sample(self) -> None:
        while True:
            self.peak_kib = max([self.peak_kib, *(rss_kib(p) for p in self._pids())])
            await asyncio.sleep(0.05)

    def __enter__(self) -> PeakRss:
        self._task = asyncio.get_running_loop().create_task(self._sample())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


def seed(stack: StackProcess, images: int, layer_bytes: int) -> dict[str, str]:
    assert stack.database is not None
    with httpx.Client(base_url=f"{stack.url}/api/v2.0", auth=ADMIN, timeout=60) as api:
        r = api.post("/projects", json={"project_name": PROJECT, "metadata": {"public": "false"}})
        assert r.status_code == 201, r.text
    source = RegistryEndpoint(stack.url.removeprefix("http://"), f"{stack.url}/service/token", stack.database)
    digests = {}
    with source.client() as client:
        for i in range(images):
            layers = [os.urandom(layer_bytes), os.urandom(layer_bytes)]
            _, digests[f"t{i}"] = push_image(client, REPOSITORY, f"t{i}", layers=layers)
    return digests


def check(distribution: DistributionProcess, repository: str, digests: dict[str, str]) -> int:
    """Tags whose manifest on the destination is not the source's."""
    wrong = 0
    accept = ", ".join([mt.OCI_MANIFEST, mt.DOCKER_MANIFEST])
    with httpx.Client(base_url=distribution.url, auth=(USER, PASSWORD), timeout=60) as client:
        for tag, digest in digests.items():
            r = client.get(f"/v2/{repository}/manifests/{tag}", headers={"Accept": accept})
            wrong += r.status_code != 200 or digest_of(r.content) != digest
    return wrong


async def push_policy(api: httpx.AsyncClient, name: str, url: str, namespace: str, repository: str) -> int:
    """A docker-registry endpoint for the Distribution at `url` and an enabled push policy of `repository`
    into `namespace` there; the policy's id."""
    body = {
        "name": name,
        "url": url,
        "type": "docker-registry",
        "credential": {"access_key": USER, "access_secret": PASSWORD},
    }
    r = await api.post("/registries", json=body)
    assert r.status_code == 201, r.text
    registry_id = int(r.headers["Location"].rsplit("/", 1)[1])
    policy = {
        "name": name,
        "dest_registry": {"id": registry_id},
        "dest_namespace": namespace,
        "filters": [{"type": "name", "value": repository}],
        "enabled": True,
    }
    r = await api.post("/replication/policies", json=policy)
    assert r.status_code == 201, r.text
    return int(r.headers["Location"].rsplit("/", 1)[1])


async def run_execution(api: httpx.AsyncClient, policy_id: int) -> float:
    """Starts an execution of the policy and waits for it to succeed; the seconds it took."""
    started = time.perf_counter()
    r = await api.post("/replication/executions", json={"policy_id": policy_id})
    assert r.status_code == 201, r.text
    location = r.headers["Location"].split("/api/v2.0", 1)[1]
    while (execution := (await api.get(location)).json())["status"] == "InProgress":
        if time.perf_counter() - started > DEADLINE_S:
            raise RuntimeError("the execution did not end")
        await asyncio.sleep(0.05)
    took = time.perf_counter() - started
    assert execution["status"] == "Succeed", execution
    return took


async def berth_round(stack: StackProcess, distribution: DistributionProcess, n: int) -> tuple[float, int]:
    async with httpx.AsyncClient(base_url=f"{stack.url}/api/v2.0", auth=ADMIN, timeout=60) as api:
        policy_id = await push_policy(api, f"bench-{n}", distribution.url, f"berth{n}", REPOSITORY)
        with PeakRss(lambda: [int(stack.status()["jobservice"]["pid"])]) as rss:
            took = await run_execution(api, policy_id)
    return took, rss.peak_kib


async def skopeo_round(stack: StackProcess, distribution: DistributionProcess, n: int) -> tuple[float, int]:
    source = f"{stack.url.removeprefix('http://')}/{REPOSITORY}"
    destination = f"{distribution.url.removeprefix('http://')}/skopeo{n}"
    command = [
        "skopeo", "sync", "--src", "docker", "--dest", "docker",
        "--src-tls-verify=false", "--dest-tls-verify=false", "--preserve-digests",
        "--src-creds", f"{ADMIN[0]}:{ADMIN[1]}", "--dest-creds", f"{USER}:{PASSWORD}",
        source, destination,
    ]  # fmt: skip
    started = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(*command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    with PeakRss(lambda: [proc.pid]) as rss:
        _, stderr = await proc.communicate()
    took = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"skopeo sync failed: {stderr.decode()[-2000:]}")
    return took, rss.peak_kib


async def rounds(stack: StackProcess, workdir: Path, args: argparse.Namespace) -> int:
    digests = seed(stack, args.images, args.layer_mib * 1024 * 1024)
    total_mib = args.images * 2 * args.layer_mib
    print(f"seeded {args.images} images ({total_mib} MiB) into {REPOSITORY}", flush=True)
    berth: list[tuple[float, int]] = []
    skopeo: list[tuple[float, int]] = []
    wrong = 0
    for n in range(args.rounds):
        # Alternating which goes first, so neither always meets a warmer (or busier) machine.
        order = [("berth", berth_round), ("skopeo", skopeo_round)]
        for name, run in order if n % 2 == 0 else reversed(order):
            # An empty destination each time: nothing there to skip or mount from an earlier round.
            with DistributionProcess(workdir / f"{name}{n}", users={USER: PASSWORD}) as distribution:
                took, peak = await run(stack, distribution, n)
                repository = f"berth{n}/img" if name == "berth" else f"skopeo{n}/img"
                wrong += check(distribution, repository, digests)
            (berth if name == "berth" else skopeo).append((took, peak))
            print(
                f"round {n + 1} {name:<7} {took:7.1f} s  {total_mib / took:7.1f} MiB/s  peak RSS {peak / 1024:6.0f} MiB"
            )
    berth_s = sum(t for t, _ in berth)
    skopeo_s = sum(t for t, _ in skopeo)
    ratio = skopeo_s / berth_s
    print()
    print(f"{'':<22}{'MiB/s':>8}{'peak RSS MiB':>14}")
    print(f"{'Berth replication':<22}{total_mib * len(berth) / berth_s:>8.1f}{max(p for _, p in berth) / 1024:>14.0f}")
    print(f"{'skopeo sync':<22}{total_mib * len(skopeo) / skopeo_s:>8.1f}{max(p for _, p in skopeo) / 1024:>14.0f}")
    print(f"throughput Berth / skopeo sync: {ratio:.2f} (target >= {TARGET_RATIO})")
    print(f"tags wrong on the destination: {wrong} (target 0)")
    ok = ratio >= TARGET_RATIO and wrong == 0
    print("all targets met" if ok else "TARGET MISSED")
    return 0 if ok or not args.strict else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=100, help="images to replicate (default 100)")
    parser.add_argument("--layer-mib", type=int, default=5, help="MiB per layer, two layers an image (default 5)")
    parser.add_argument("--rounds", type=int, default=2, help="alternated rounds of each (default 2)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()
    with cleaned_up() as stack_of:
        tmp = Path(stack_of.enter_context(tempfile.TemporaryDirectory(prefix="berth-replication-bench-")))
        stack = stack_of.enter_context(fresh_stack(tmp / "stack"))
        status = asyncio.run(rounds(stack, tmp, args))
    sys.exit(status)


if __name__ == "__main__":
    main()
