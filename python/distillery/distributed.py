"""Training on several processes: torch.distributed with DDP, launched by torchrun.

Two sides live here, and nothing else in the engine knows more about distribution than the few calls below.

The launcher (``launch``) is torchrun itself — ``torch.distributed.run`` called in this process, which is
the elastic agent: it starts one worker per device, watches them (every 0.1 s), and when one fails it stops
the others (SIGTERM, SIGKILL 3 s later). Each worker is ``python -m distillery --worker COMMAND REQUEST``.
Workers leave their result (rank 0) and their errors in a folder of the launcher's, which turns a failed job
into one typed error that names the rank at fault (``RankFailedError``, or the worker's own error).

A worker (``init_worker``) joins the process group — gloo on CPU, nccl on CUDA, one device per rank — and
then trains exactly as one process does, except:

* the model being trained is wrapped in DDP (``wrap``); a teacher runs frozen, on each rank, its cached
  outputs computed on each rank (the transfer set is in every rank's memory);
* each epoch's order comes from a ``DistributedSampler`` seeded by (seed, epoch): rank r takes rows
  r, r+W, r+2W, … of the permutation, so W ranks at batch B/W see, step by step, the rows that one rank
  at batch B sees, and DDP's mean of the ranks' gradients is the gradient of that global batch;
* ``training.batchSize`` is the global batch (each rank takes batchSize / worldSize) and the learning rate
  applies to it unchanged: the same experiment file gives the same training on 1 or W processes;
* the epoch's loss and accuracy sums are added over the ranks (``all_sum``);
* only rank 0 writes (checkpoints, state files, exports, results) and sends progress events; the other
  ranks wait at a ``barrier`` where they read what rank 0 wrote (the output folder must be shared by
  every node);
* a heartbeat thread: every rank beats once a second in the job's store; rank 0 watches every rank and
  every rank watches rank 0. A rank silent for ``hangTimeoutSeconds`` (frozen, stopped, stuck in C code)
  fails the job, naming it; a worker whose agent dies is killed with it (PR_SET_PDEATHSIG), so no rank
  outlives the job.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime
import json
import os
import signal
import socket
import sys
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass
from typing import Any, NoReturn, Optional

import torch
from torch import nn

from .errors import Cancelled, ConfigError, DistilleryError
from .io import atomic_write
from .spec import Distributed, parse

RUN_DIR_ENV = "DISTILLERY_RUN_DIR"  # the launcher's folder: result.json, rank-<r>.error.json
HANG_ENV = "DISTILLERY_HANG_TIMEOUT"
TIMEOUT_ENV = "DISTILLERY_COLLECTIVE_TIMEOUT"


class RankFailedError(DistilleryError):
    """A rank of a distributed job died, hung, or failed; ``details`` names it (rank, host, exitCode, signal)."""


@dataclass(frozen=True)
class Context:
    """Where this process stands in the job. The default (one process, no torchrun) is not distributed."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    nodes: int = 1
    backend: Optional[str] = None

    @property
    def active(self) -> bool:
        """Launched by torchrun (even with one rank): the distributed code paths are taken."""
        return self.backend is not None

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def summary(self) -> Optional[dict[str, Any]]:
        """What report.json records under ``distributed``; None for a single process."""
        if not self.active:
            return None
        return {"worldSize": self.world_size, "backend": self.backend, "nodes": self.nodes, "batch": "global"}


_CONTEXT = Context()
_HEARTBEAT: Optional[_Heartbeat] = None


def current() -> Context:
    return _CONTEXT


def is_main() -> bool:
    return _CONTEXT.is_main


# ---------------------------------------------------------------- the worker side


def init_worker(device: str) -> tuple[Context, str]:
    """Joins the process group torchrun set up (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR in the environment).
    Returns the context and this rank's device: ``cuda:<local rank>`` when the request's device is CUDA (or
    auto on a machine with CUDA), else ``cpu``."""
    global _CONTEXT
    import torch.distributed as dist

    rank, world, local = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ["LOCAL_RANK"])
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    if cuda:
        if not torch.cuda.is_available():
            raise ConfigError(
                f"device: '{device}' was asked for, but torch {torch.__version__} sees no CUDA device", field="device"
            )
        if local >= torch.cuda.device_count():
            raise ConfigError(
                f"distributed.nprocPerNode: {local_world} ranks on this node, but it has {torch.cuda.device_count()} "
                "CUDA devices (one device per rank)",
                field="distributed.nprocPerNode",
            )
        torch.cuda.set_device(local)
    _die_with_parent()
    backend = "nccl" if cuda else "gloo"
    timeout = datetime.timedelta(seconds=float(os.environ.get(TIMEOUT_ENV, "600")))
    dist.init_process_group(backend=backend, timeout=timeout)
    _CONTEXT = Context(rank, world, local, max(1, world // max(1, local_world)), backend)
    global _HEARTBEAT
    _HEARTBEAT = _Heartbeat(_CONTEXT, float(os.environ.get(HANG_ENV, "10")))
    _HEARTBEAT.start()
    return _CONTEXT, f"cuda:{local}" if cuda else "cpu"


def finish_worker() -> None:
    """Ends a rank that succeeded: its heartbeat marks it done and stops, then the process group goes. The done
    mark, written before the process leaves, keeps the ranks still finishing from taking its silence for a hang."""
    import torch.distributed as dist

    stop_heartbeat()
    if dist.is_initialized():
        dist.destroy_process_group()


def exit_worker(code: int) -> NoReturn:
    """Leaves the worker without the interpreter's shutdown, once its output is flushed.

    Everything a rank leaves is written (atomically) by now, and its heartbeat stopped; what shutdown would still do
    is tear down torch's C++ state, and that aborted a finished rank ("terminate called without an active exception",
    exit -6, in the main thread after its last Python frame) in about one 2-rank run of fifty, even with every thread
    of ours joined. A finished rank must exit 0, so it skips that teardown."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def stop_heartbeat() -> None:
    """This rank is done (or failing): its heartbeat says so and stops. Safe to call twice or without one."""
    if _HEARTBEAT is not None:
        _HEARTBEAT.stop()


def _die_with_parent() -> None:
    """Linux: this worker gets SIGKILL when its agent dies, however it dies — no orphan keeps a device."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass
    if os.getppid() == 1:  # the agent died before the call above
        os._exit(1)


def local_batch(batch_size: int, where: str = "training.batchSize") -> int:
    """Each rank's share of the global batch; the global batch must split evenly."""
    world = _CONTEXT.world_size
    if batch_size % world:
        raise ConfigError(
            f"{where}: the global batch {batch_size} does not split evenly over {world} ranks; "
            f"use a multiple of {world}",
            field=where,
            details={"batchSize": batch_size, "worldSize": world},
        )
    return batch_size // world


def epoch_order(n: int, seed: int, epoch: int, device: torch.device) -> torch.Tensor:
    """This rank's rows for one epoch, in order: a DistributedSampler over the transfer set's rows (padded by
    repeating rows so that every rank takes as many; seeded by seed + epoch, the same on every rank)."""
    from torch.utils.data import DistributedSampler

    rows: Any = range(n)  # a sized sequence is all the sampler reads
    sampler: DistributedSampler[int] = DistributedSampler(
        rows, num_replicas=_CONTEXT.world_size, rank=_CONTEXT.rank, shuffle=True, seed=seed
    )
    sampler.set_epoch(epoch)
    return torch.tensor(list(sampler), dtype=torch.int64, device=device)


def reseed(generator: torch.Generator, seed: int, epoch: int) -> None:
    """Augmentation randomness per rank and epoch, so a resumed epoch draws what the uninterrupted one did."""
    generator.manual_seed((seed * 1_000_003 + epoch * 7_919 + _CONTEXT.rank) % (2**63))


def wrap(model: nn.Module, device: torch.device) -> nn.Module:
    """The model being trained, in DDP when launched by torchrun; as it is otherwise."""
    if not _CONTEXT.active:
        return model
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def all_sum(values: list[torch.Tensor]) -> list[torch.Tensor]:
    """Scalars summed over the ranks, in one collective."""
    if not _CONTEXT.active or not values:
        return values
    import torch.distributed as dist

    device = values[0].device  # the training device: nccl sums CUDA tensors only
    stacked = torch.stack([value.detach().to(device=device, dtype=torch.float64).reshape(()) for value in values])
    dist.all_reduce(stacked)
    return list(stacked.unbind())


def barrier() -> None:
    if _CONTEXT.active:
        import torch.distributed as dist

        dist.barrier()


class _Heartbeat(threading.Thread):
    """Beats once a second in the job's store; declares a watched rank hung after ``timeout`` seconds of silence.
    A rank that has finished says so (``done/<rank>``) before its heartbeat stops, and is watched no more."""

    STORE_TIMEOUT = 30.0  # seconds one store call may take before the store counts as gone

    def __init__(self, context: Context, timeout: float):
        super().__init__(name="distillery-heartbeat", daemon=True)
        self.context, self.timeout = context, timeout
        self.stopping = threading.Event()

    def stop(self) -> None:
        """Marks this rank done and waits for the thread to leave its store calls (a beat is at most one call away)."""
        self.stopping.set()
        self.join(self.STORE_TIMEOUT + 2.0)

    def run(self) -> None:
        from torch.distributed import PrefixStore, TCPStore  # type: ignore[attr-defined]  # bound from torch._C, not in __all__

        try:
            store = PrefixStore(
                "distillery-heartbeat",
                TCPStore(
                    os.environ["MASTER_ADDR"],
                    int(os.environ["MASTER_PORT"]),
                    is_master=False,
                    timeout=datetime.timedelta(seconds=self.STORE_TIMEOUT),
                ),
            )
            rank = self.context.rank
            store.set(f"who/{rank}", json.dumps({"host": socket.gethostname(), "pid": os.getpid()}))
            watched = range(1, self.context.world_size) if rank == 0 else [0]
            seen = {other: (-1, time.monotonic()) for other in watched}
            while not self.stopping.is_set():
                store.add(f"beat/{rank}", 1)
                self._watch(store, seen)
                self.stopping.wait(1.0)
            store.set(f"done/{rank}", "1")
        except Exception:  # the store went away: the job is ending, and the agent will say why
            return

    def _watch(self, store: Any, seen: dict[int, tuple[int, float]]) -> None:
        now = time.monotonic()
        for other in list(seen):
            if store.check([f"done/{other}"]):  # finished: its silence from now on is not a hang
                del seen[other]
                continue
            count = store.add(f"beat/{other}", 0)
            if count != seen[other][0]:
                seen[other] = (count, now)
            elif count > 0 and now - seen[other][1] > self.timeout:
                self._hung(store, other, now - seen[other][1])

    def _hung(self, store: Any, other: int, silent: float) -> None:
        who = json.loads(store.get(f"who/{other}"))
        message = (
            f"rank {other} (pid {who['pid']} on {who['host']}) stopped responding: no heartbeat for {silent:.0f} s "
            f"(distributed.hangTimeoutSeconds: {self.timeout:g})"
        )
        write_error(
            RankFailedError(message, details={"rank": other, "host": who["host"], "pid": who["pid"], "reason": "hang"})
        )
        if who["host"] == socket.gethostname():
            with contextlib.suppress(OSError):
                os.kill(int(who["pid"]), signal.SIGKILL)  # a stopped process ignores the agent's SIGTERM
        os._exit(75)


def write_error(error: BaseException) -> None:
    """This rank's error, for the launcher: a DistilleryError as it is, anything else by type and message."""
    folder = os.environ.get(RUN_DIR_ENV)
    if not folder:
        return
    if isinstance(error, DistilleryError):
        info = error.to_json()
        info["kind"] = "hang" if info["details"].get("reason") == "hang" else "distillery"
    else:
        info = {
            "type": type(error).__name__,
            "message": str(error) or type(error).__name__,
            "field": None,
            "file": None,
            "details": {},
            "kind": "other",
        }
    info["details"] = {**info["details"], "rank": info["details"].get("rank", _CONTEXT.rank)}
    info["traceback"] = "".join(traceback.format_exception(error))
    info["time"] = time.time()
    write_json(os.path.join(folder, f"rank-{_CONTEXT.rank}.error.json"), info)


def write_result(result: dict[str, Any]) -> None:
    folder = os.environ.get(RUN_DIR_ENV)
    if folder and _CONTEXT.is_main:
        write_json(os.path.join(folder, "result.json"), result)


def write_json(path: str, value: Any) -> None:
    """Atomically (io.atomic_write): the launcher never reads a half-written file."""

    def write(temporary: str) -> None:
        with open(temporary, "w", encoding="utf8") as handle:
            json.dump(value, handle)

    atomic_write(path, write)


# ---------------------------------------------------------------- the launcher side


def check_launch(launch: Distributed) -> None:
    """What zod's refinements check, again: the command line's flags reach the launcher without passing zod."""
    where = "distributed"
    if launch.nproc_per_node < 1:
        raise ConfigError(
            f"{where}.nprocPerNode: expected an integer >= 1, got {launch.nproc_per_node}",
            field=f"{where}.nprocPerNode",
        )
    if launch.nnodes < 1:
        raise ConfigError(f"{where}.nnodes: expected an integer >= 1, got {launch.nnodes}", field=f"{where}.nnodes")
    if not 0 <= launch.node_rank < launch.nnodes:
        raise ConfigError(
            f"{where}.nodeRank: expected 0..{launch.nnodes - 1} for {launch.nnodes} nodes, got {launch.node_rank}",
            field=f"{where}.nodeRank",
        )
    if launch.nnodes > 1 and not launch.master_addr:
        raise ConfigError(
            f"{where}.masterAddr: a job on {launch.nnodes} nodes needs the address of node 0 (--master-addr)",
            field=f"{where}.masterAddr",
        )


def launch(command: str, request_path: str, options: Distributed, *, jsonl: bool) -> Optional[dict[str, Any]]:
    """Runs ``python -m distillery --worker COMMAND REQUEST`` on ``nproc_per_node`` ranks of this node through
    torchrun, and returns rank 0's result (None on a node that does not hold rank 0). A failed job raises the
    failing rank's own error, or a RankFailedError naming it."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    check_launch(options)
    folder = tempfile.mkdtemp(prefix="distillery-ranks-")
    args = [
        "--nproc-per-node",
        str(options.nproc_per_node),
        "--nnodes",
        str(options.nnodes),
        "--max-restarts",
        "0",
        "--monitor-interval",
        "0.1",
        "--shutdown-timeout",
        "3",
    ]
    if options.nnodes == 1 and options.master_port is None:
        args.append("--standalone")  # a free port on localhost
    else:
        args += [
            "--node-rank",
            str(options.node_rank),
            "--master-addr",
            options.master_addr or "127.0.0.1",
            "--master-port",
            str(options.master_port or 29500),
        ]
    worker = ["-m", "distillery", "--worker", command, request_path] + (["--jsonl"] if jsonl else [])
    saved = {key: os.environ.get(key) for key in (RUN_DIR_ENV, HANG_ENV, TIMEOUT_ENV, "OMP_NUM_THREADS")}
    os.environ[RUN_DIR_ENV] = folder
    os.environ[HANG_ENV] = str(options.hang_timeout_seconds)
    os.environ[TIMEOUT_ENV] = str(options.timeout_seconds)
    if "OMP_NUM_THREADS" not in os.environ:  # torchrun would set 1; share this node's cores among its ranks instead
        os.environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // options.nproc_per_node))
    try:
        try:
            run(parse_args(args + worker))  # type: ignore[no-untyped-call]  # torchrun's entry points are not annotated
        except ChildFailedError as failed:
            raise _failure(failed, folder) from None
        except SignalException as stopped:  # Ctrl-C or SIGTERM: torchrun has stopped the ranks
            raise Cancelled(f"stopped by {stopped.sigval.name}: every rank was stopped; --resume continues") from None
        path = os.path.join(folder, "result.json")
        if not os.path.exists(path):
            return None
        with open(path, encoding="utf8") as handle:
            result: dict[str, Any] = json.load(handle)
            return result
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        for name in os.listdir(folder):
            os.remove(os.path.join(folder, name))
        os.rmdir(folder)


class WorkerError(DistilleryError):
    """A worker's own error, carried through the launcher with its original type name."""

    def __init__(self, info: dict[str, Any]):
        super().__init__(
            info["message"], field=info.get("field"), file=info.get("file"), details=info.get("details") or {}
        )
        self.type_name = info["type"]
        self.worker_traceback = info.get("traceback", "")

    def to_json(self) -> dict[str, Any]:
        return {**super().to_json(), "type": self.type_name}


def _failure(failed: Any, folder: str) -> DistilleryError:
    """The job's error, the root cause first: a hang a rank saw; else a rank's own Distillery error (bad data,
    divergence); else a rank that died without a word (killed, out of memory) — the others' errors then are only
    their broken connections to it; else the first error any rank wrote."""
    written: dict[int, dict[str, Any]] = {}
    for name in os.listdir(folder):
        if name.endswith(".error.json"):
            with open(os.path.join(folder, name), encoding="utf8") as handle:
                info = json.load(handle)
            written[int(name.split("-")[1].split(".")[0])] = info  # by the rank that wrote it
    for reason in ("hang", "distillery"):
        chosen = [info for info in written.values() if info.get("kind") == reason]
        if chosen:
            return WorkerError(min(chosen, key=lambda info: info["time"]))
    silent = [(rank, failure) for rank, failure in failed.failures.items() if rank not in written]
    if silent:
        # the agent stops the other ranks with SIGTERM: a rank that died of anything else is the cause
        rank, first = min(silent, key=lambda item: (item[1].exitcode == -signal.SIGTERM, item[1].timestamp))
        code = first.exitcode
        killer = signal.Signals(-code).name if code < 0 and -code in signal.valid_signals() else None
        how = f"was killed by signal {killer}" if killer else f"exited with code {code}"
        return RankFailedError(
            f"rank {rank} (local rank {first.local_rank}, pid {first.pid}) {how}; the job was stopped on every rank",
            details={
                "rank": rank,
                "localRank": first.local_rank,
                "pid": first.pid,
                "exitCode": code,
                "signal": killer,
                "reason": "died",
                "failedRanks": sorted(failed.failures),
            },
        )
    return WorkerError(min(written.values(), key=lambda info: info["time"]))


def launch_options(block: Optional[dict[str, Any]], flags: dict[str, Any]) -> Optional[Distributed]:
    """The launch: a request's ``distributed`` block with the command line's given flags on top (camelCase keys; a
    flag left out is None and leaves the block's value), parsed by spec.py like every request, so a key zod fills
    must be there. None when neither is given: one process, no torchrun. Given, even with one rank, the job runs
    under torchrun."""
    given = {key: value for key, value in flags.items() if value is not None}
    if block is None and not given:
        return None
    if block is None:
        raise ConfigError(
            "distributed: the request has no distributed block for the command line's flags to change; write the "
            "block out with every key, as `distillery run --nproc-per-node N` does in resolved-config.json",
            field="distributed",
        )
    return parse(Distributed, {**block, **given}, "distributed")


def stdout_line(value: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(value) + "\n")
    sys.stdout.flush()
