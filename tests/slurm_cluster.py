"""A real single-node SLURM cluster for tests: munged, slurmctld and slurmd on loopback.

The session fixture `slurm_cluster` starts one (see ../shared/docs/cluster-on-one-machine.md)
when we are root and the daemons are installed, and skips with the reason otherwise; with
CI=true it may `apt-get install` them first, and fails rather than skips if they will not start.

Everything is private to this harness, so a cluster someone else runs on the machine is never
touched: its own folder (STATE_ROOT), ports (CTLD_PORT, SLURMD_PORT), munge socket and key, and
SLURM_CONF pointing clients (sbatch, srun, squeue; the jobs inherit it) at its slurm.conf.
Daemons that a crashed earlier session left behind are found by the pid files in STATE_ROOT and
stopped first; a lock file serialises concurrent sessions.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

STATE_ROOT = os.path.join(tempfile.gettempdir(), 'ecgdepth-slurm-test')
CTLD_PORT = 16817  # Not SLURM's defaults (6817/6818): a cluster run by hand may hold those.
SLURMD_PORT = 16818
PARTITION = 'debug'
DAEMONS = ('slurmctld', 'slurmd', 'munged')
CLIENTS = ('sbatch', 'srun', 'squeue', 'sinfo', 'scontrol', 'scancel', 'munge', 'unmunge')
START_TIMEOUT = 60.0  # Seconds for the node to become idle.
# A requeued job stays PENDING (reason BeginTime) for the job credential lifetime (AuthInfo
# cred_expire, SLURM's default 120 s) plus one second, and nothing wakes the scheduler when that
# hold ends: the main scheduling loop starts it on its next pass (sched_interval, default 60 s).
# With the defaults a requeue took 2-3 minutes to rerun; with these, about 22 s. cred_expire also
# bounds how long a step's launch credential stays valid, so it is not cut further.
CRED_EXPIRE_S = 20
SCHED_INTERVAL_S = 2
LOCK_TIMEOUT = 600.0  # Seconds to wait for another session's cluster to finish.

SLURM_CONF = """\
ClusterName=ecgdepth-test
SlurmctldHost=localhost
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={dir}/munge/munge.socket,cred_expire={cred_expire}
StateSaveLocation={dir}/state
SlurmdSpoolDir={dir}/spool
SlurmctldPidFile={dir}/slurmctld.pid
SlurmdPidFile={dir}/slurmd.pid
SlurmctldLogFile={dir}/log/slurmctld.log
SlurmdLogFile={dir}/log/slurmd.log
SchedulerType=sched/backfill
SchedulerParameters=sched_interval={sched_interval}
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc={dir}/log/jobcomp.txt
MinJobAge=3600
ReturnToService=2
{node}
PartitionName={partition} Nodes=localhost Default=YES MaxTime=INFINITE State=UP
"""


class ClusterUnavailable(Exception):
    """The cluster cannot run here; the message says why (the fixture skips with it)."""


@dataclasses.dataclass
class SlurmCluster:
    """A running test cluster: pass `env` to subprocesses (it holds SLURM_CONF)."""

    root: str
    conf: str
    partition: str = PARTITION

    @property
    def env(self) -> dict[str, str]:
        return dict(os.environ, SLURM_CONF=self.conf)

    def log(self, name: str) -> str:
        """The tail of a daemon log (slurmctld, slurmd, munged): for failure messages."""
        path = os.path.join(self.root, 'log', f'{name}.log')
        try:
            with open(path, errors='replace') as f:
                return ''.join(f.readlines()[-40:])
        except FileNotFoundError:
            return f'(no {path})'


def _run(args, timeout=30.0, env=None, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        args, capture_output=True, text=True, timeout=timeout, env=env, check=False, **kwargs
    )


def _pid(path: str) -> int | None:
    try:
        with open(path) as f:
            return int(f.read().split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None


def _comm(pid: int) -> str | None:
    """The command name of a live process `pid`; None if gone or a zombie (pid 1 here may
    never reap the daemons' exited parents)."""
    try:
        with open(f'/proc/{pid}/stat') as f:
            stat = f.read()
    except OSError:
        return None
    name, _, rest = stat.partition(' (')[2].rpartition(') ')
    return None if rest.split()[:1] in (['Z'], ['X']) else name


def _stop(pidfile: str, name: str, timeout: float = 15.0) -> None:
    """Stops the daemon `name` whose pid is in `pidfile` (only if that pid still runs `name`)."""
    pid = _pid(pidfile)
    if pid is None or _comm(pid) != name:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.time() + timeout
    while time.time() < deadline and _comm(pid) == name:
        time.sleep(0.1)
    if _comm(pid) == name:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _pidfiles(root: str) -> list[tuple[str, str]]:
    return [
        (os.path.join(root, 'slurmd.pid'), 'slurmd'),
        (os.path.join(root, 'slurmctld.pid'), 'slurmctld'),
        (os.path.join(root, 'munge', 'munged.pid'), 'munged'),
    ]


def stop_daemons(root: str = STATE_ROOT) -> None:
    """Stops this harness's daemons (slurmd first, munged last), e.g. ones a crash left."""
    for pidfile, name in _pidfiles(root):
        _stop(pidfile, name)


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(('0.0.0.0', port))
        except OSError:
            return False
    return True


def _missing_programs() -> list[str]:
    return [p for p in DAEMONS + CLIENTS + ('slurmstepd', 'runuser') if not _which(p)]


def _which(program: str) -> str | None:
    return shutil.which(program) or shutil.which(program, path='/usr/sbin:/sbin')


def ensure_installed() -> None:
    """Raises ClusterUnavailable unless root and the SLURM/munge programs are there; with
    CI=true and apt-get, installs slurm-wlm and munge first."""
    if not hasattr(os, 'geteuid') or os.geteuid() != 0:
        raise ClusterUnavailable('the test SLURM cluster needs root (daemons run as root/munge)')
    missing = _missing_programs()
    if not missing:
        return
    if os.environ.get('CI', '').lower() == 'true' and shutil.which('apt-get'):
        for args in (['apt-get', 'update'], ['apt-get', 'install', '-y', 'slurm-wlm', 'munge']):
            result = _run(args, timeout=900, env=dict(os.environ, DEBIAN_FRONTEND='noninteractive'))
            if result.returncode != 0:
                raise ClusterUnavailable(f'{" ".join(args)} failed: {result.stderr[-2000:]}')
        missing = _missing_programs()
        if not missing:
            return
    raise ClusterUnavailable(
        f'SLURM programs not found: {", ".join(missing)} (apt-get install slurm-wlm munge; '
        'with CI=true the harness installs them itself)'
    )


def node_line() -> str:
    """This machine as a SLURM node named localhost, from `slurmd -C` (CPUs, memory...)."""
    result = _run([_which('slurmd'), '-C'])
    first = result.stdout.splitlines()[0] if result.stdout else ''
    if result.returncode != 0 or not first.startswith('NodeName='):
        raise ClusterUnavailable(f'slurmd -C failed: {result.stdout} {result.stderr}')
    return re.sub(r'^NodeName=\S+', 'NodeName=localhost', first) + ' State=UNKNOWN'


def write_conf(root: str) -> str:
    """Fresh folders and slurm.conf under `root` (old job state is wiped); its path."""
    for sub in ('state', 'spool', 'log', 'munge'):
        shutil.rmtree(os.path.join(root, sub), ignore_errors=True)
        os.makedirs(os.path.join(root, sub))
    conf = os.path.join(root, 'slurm.conf')
    with open(conf, 'w') as f:
        f.write(
            SLURM_CONF.format(
                dir=root,
                ctld_port=CTLD_PORT,
                slurmd_port=SLURMD_PORT,
                node=node_line(),
                partition=PARTITION,
                cred_expire=CRED_EXPIRE_S,
                sched_interval=SCHED_INTERVAL_S,
            )
        )
    return conf


def start_munged(root: str) -> None:
    """A private munged (own socket, pid, log and key copy) run as the munge user."""
    directory = os.path.join(root, 'munge')
    key = os.path.join(directory, 'munge.key')
    if os.path.exists('/etc/munge/munge.key'):
        shutil.copyfile('/etc/munge/munge.key', key)
    else:
        with open(key, 'wb') as f:
            f.write(os.urandom(128))
    os.chmod(key, 0o600)
    os.chmod(directory, 0o755)  # munged: the socket's folder must be o+x.
    for path in (directory, key):
        shutil.chown(path, 'munge', 'munge')
    result = _run(
        [
            _which('runuser'),
            '-u',
            'munge',
            '--',
            _which('munged'),
            f'--socket={directory}/munge.socket',
            f'--pid-file={directory}/munged.pid',
            f'--log-file={directory}/munged.log',
            f'--seed-file={directory}/munged.seed',
            f'--key-file={key}',
        ]
    )
    log = os.path.join(directory, 'munged.log')
    if result.returncode != 0:
        raise ClusterUnavailable(f'munged failed to start: {result.stderr} {_tail(log)}')
    cred = _run([_which('munge'), '-n', f'--socket={directory}/munge.socket'])
    check = _run([_which('unmunge'), f'--socket={directory}/munge.socket'], input=cred.stdout)
    if check.returncode != 0:
        raise ClusterUnavailable(f'munge does not work: {check.stderr} {_tail(log)}')


def _tail(path: str) -> str:
    try:
        with open(path, errors='replace') as f:
            return ''.join(f.readlines()[-20:])
    except FileNotFoundError:
        return ''


def start(root: str = STATE_ROOT) -> SlurmCluster:
    """Stops stale daemons of `root`, starts munged, slurmctld and slurmd; waits until idle."""
    ensure_installed()
    os.makedirs(root, exist_ok=True)
    stop_daemons(root)
    for port in (CTLD_PORT, SLURMD_PORT):
        if not _port_free(port):
            raise ClusterUnavailable(f'port {port} is in use by a process not of this harness')
    conf = write_conf(root)
    cluster = SlurmCluster(root=root, conf=conf)
    env = cluster.env
    try:
        start_munged(root)
        for daemon in ('slurmctld', 'slurmd'):
            result = _run([_which(daemon), '-f', conf], env=env)
            if result.returncode != 0:
                raise ClusterUnavailable(
                    f'{daemon} failed to start: {result.stderr} {cluster.log(daemon)}'
                )
        wait_idle(cluster)
    except BaseException:
        stop_daemons(root)
        raise
    return cluster


def wait_idle(cluster: SlurmCluster, timeout: float = START_TIMEOUT) -> None:
    """Waits until sinfo shows the node idle (undraining it once if needed)."""
    deadline = time.time() + timeout
    state, resumed = '', False
    while time.time() < deadline:
        result = _run([_which('sinfo'), '--noheader', '--format=%t'], env=cluster.env)
        state = result.stdout.strip()
        if result.returncode == 0 and state == 'idle':
            return
        if state.startswith('drain') and not resumed:
            _run(
                [_which('scontrol'), 'update', 'nodename=localhost', 'state=resume'],
                env=cluster.env,
            )
            resumed = True
        time.sleep(0.5)
    raise ClusterUnavailable(
        f'the node is not idle after {timeout:g} s (sinfo: {state!r}).\nslurmctld:\n'
        f'{cluster.log("slurmctld")}\nslurmd:\n{cluster.log("slurmd")}'
    )


@contextlib.contextmanager
def _session_lock(root: str):
    """One session at a time owns the cluster (the ports and folder are fixed)."""
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, '.lock'), 'w') as f:
        deadline = time.time() + LOCK_TIMEOUT
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.time() > deadline:
                    raise ClusterUnavailable(
                        f'another test session holds {root}/.lock for over {LOCK_TIMEOUT:g} s'
                    ) from None
                time.sleep(1)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


@pytest.fixture(scope='session')
def slurm_cluster():
    """A running single-node cluster (partition 'debug'), or a skip saying why not.

    Sets SLURM_CONF in os.environ for the session, so sbatch/squeue in this process and in
    subprocesses (and the jobs, which inherit the submitter's environment) find it.
    """
    try:
        ensure_installed()
    except ClusterUnavailable as error:
        pytest.skip(str(error))
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(_session_lock(STATE_ROOT))
            cluster = start(STATE_ROOT)
        except ClusterUnavailable as error:
            if os.environ.get('CI', '').lower() == 'true':  # Installed but broken: say so.
                pytest.fail(f'the test SLURM cluster did not start: {error}')
            pytest.skip(f'no test SLURM cluster: {error}')
        stack.callback(stop_daemons, STATE_ROOT)
        previous = os.environ.get('SLURM_CONF')
        os.environ['SLURM_CONF'] = cluster.conf
        try:
            yield cluster
        finally:
            if previous is None:
                os.environ.pop('SLURM_CONF', None)
            else:
                os.environ['SLURM_CONF'] = previous
