#!/usr/bin/env bash
# A real single-node SLURM cluster on this machine, for the tests and CI (Debian/Ubuntu, run as root).
#
#   bash scripts/slurm-cluster.sh up       # install slurm-wlm + munge if needed, start munged/slurmctld/slurmd
#   eval "$(bash scripts/slurm-cluster.sh up)"   # ... and export SLURM_CONF in this shell
#   bash scripts/slurm-cluster.sh status   # daemons and `sinfo`
#   bash scripts/slurm-cluster.sh down     # stop the daemons this script started (by their recorded pids)
#
# Everything (slurm.conf, state, spool, logs, pid files) lives in $HPCEVO_SLURM_DIR (default /tmp/hpcevo-slurm).
# `up` prints `export SLURM_CONF=...` on stdout (progress goes to stderr); it is idempotent.
# No systemd and no cgroups are needed: see the settings in write_conf.
set -euo pipefail

DIR="${HPCEVO_SLURM_DIR:-/tmp/hpcevo-slurm}"
CONF="$DIR/slurm.conf"
NODE="$(hostname -s)"
CPUS=16            # advertised CPUs (more than the machine has, allowed by config_overrides): room for 8-rank jobs
WAIT_S=30          # how long `up` waits for the node to become idle
export PATH="$PATH:/usr/sbin:/sbin"

say() { echo "slurm-cluster: $*" >&2; }
die() { echo "slurm-cluster: error: $*" >&2; exit 1; }

alive() {  # alive PIDFILE: the pid recorded in NAME.pid is a running process called NAME
    local pid name
    [ -s "$1" ] || return 1
    pid="$(cat "$1")" name="$(basename "$1" .pid)"
    [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$name" ]
}

install_packages() {
    command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null && return 0
    [ "$(id -u)" = 0 ] || die "slurmctld is not installed and installing it needs root (apt-get install slurm-wlm munge)"
    command -v apt-get >/dev/null || die "slurmctld is not installed and there is no apt-get to install it"
    local log="$DIR/log/apt.log"
    mkdir -p "$DIR/log"
    say "installing slurm-wlm and munge with apt-get (log: $log)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update >"$log" 2>&1 || die "apt-get update failed; the end of $log:$(tail -n 5 "$log" | sed 's/^/\n  /')"
    # apt cannot start services in a container (policy-rc.d); we start the daemons ourselves below
    apt-get install -y --no-install-recommends slurm-wlm munge >>"$log" 2>&1 \
        || die "apt-get install slurm-wlm munge failed; the end of $log:$(tail -n 5 "$log" | sed 's/^/\n  /')"
    command -v slurmctld >/dev/null || die "slurm-wlm installed but slurmctld is still not on PATH"
}

write_conf() {
    mkdir -p "$DIR"/{state,spool,log,run}
    cat >"$CONF.new" <<EOF
# Written by scripts/slurm-cluster.sh: a single-node test cluster (no systemd, no cgroups).
ClusterName=hpcevo
SlurmctldHost=$NODE
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
# short credential lifetime: a requeued job can start again ~11 s later instead of ~121 s
AuthInfo=cred_expire=10
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
# no cgroups in a container: track processes through /proc, no task binding
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=pmi2
ReturnToService=2
JobRequeue=1
KillWait=15
# fast turnaround for tests: finished jobs leave the queue (and sbatch --wait returns) quickly
MinJobAge=4
SchedulerParameters=sched_interval=5,bf_interval=5,batch_sched_delay=0
# the node may advertise more CPUs than it has without being drained
SlurmdParameters=config_overrides
NodeName=$NODE CPUs=$CPUS State=UNKNOWN
PartitionName=debug Nodes=$NODE Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
EOF
    mv "$CONF.new" "$CONF"
}

start_munge() {
    if munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
        return 0  # a munged is already serving this machine (ours from an earlier `up`, or the system's)
    fi
    id munge >/dev/null 2>&1 || die "there is no 'munge' user (is the munge package installed?)"
    mkdir -p /run/munge && chown munge:munge /run/munge && chmod 0755 /run/munge
    if [ ! -s /etc/munge/munge.key ]; then
        say "creating /etc/munge/munge.key"
        runuser -u munge -- mungekey --create --keyfile=/etc/munge/munge.key >&2 || die "could not create the munge key"
    fi
    rm -f /run/munge/munged.pid
    runuser -u munge -- munged >&2 || die "munged did not start (see /var/log/munge/munged.log)"
    for _ in $(seq 50); do
        [ -s /run/munge/munged.pid ] && break
        sleep 0.1
    done
    cp /run/munge/munged.pid "$DIR/run/munged.pid" 2>/dev/null || die "munged wrote no pid file"
    munge -n </dev/null | unmunge >/dev/null 2>&1 || die "munged runs but credentials do not work"
}

start_daemon() {  # start_daemon NAME: start slurmctld/slurmd (they daemonize and write their pid files)
    local name="$1" pidfile="$DIR/run/$1.pid"
    alive "$pidfile" && return 0
    rm -f "$pidfile"
    SLURM_CONF="$CONF" "$name" -f "$CONF" >&2 \
        || die "$name did not start; its log: $DIR/log/$name.log$(tail -n 5 "$DIR/log/$name.log" 2>/dev/null | sed 's/^/\n  /')"
    for _ in $(seq 50); do
        alive "$pidfile" && return 0
        sleep 0.1
    done
    die "$name exited right after starting; its log: $DIR/log/$name.log$(tail -n 5 "$DIR/log/$name.log" 2>/dev/null | sed 's/^/\n  /')"
}

node_state() { SLURM_CONF="$CONF" timeout 10 sinfo -h -N -n "$NODE" -o '%t' 2>/dev/null | head -n 1; }

up() {
    install_packages
    mkdir -p "$DIR/run"
    if alive "$DIR/run/slurmctld.pid" && alive "$DIR/run/slurmd.pid" && [ -s "$CONF" ]; then
        say "already up ($DIR)"
    else
        [ "$(id -u)" = 0 ] || die "starting the daemons needs root"
        for name in slurmctld slurmd; do
            if ! alive "$DIR/run/$name.pid" && pid="$(pgrep -x "$name" | head -n 1)" && [ -n "$pid" ]; then
                die "a $name (pid $pid) not started from $DIR is already running; stop it first (it holds the port)"
            fi
        done
        write_conf
        start_munge
        start_daemon slurmctld
        start_daemon slurmd
    fi
    local state="" tried_resume=""
    for _ in $(seq $((WAIT_S * 2))); do
        state="$(node_state)"
        case "$state" in
            idle|mix|mixed|alloc|allocated) break ;;
            down*|drain*|drng*|fail*)
                if [ -z "$tried_resume" ]; then  # e.g. left down by an earlier unclean stop
                    SLURM_CONF="$CONF" scontrol update NodeName="$NODE" State=RESUME >/dev/null 2>&1 || true
                    tried_resume=1
                fi ;;
        esac
        sleep 0.5
    done
    case "$state" in
        idle|mix|mixed|alloc|allocated) ;;
        *) die "node $NODE is not idle after ${WAIT_S}s (state '${state:-none}'); logs in $DIR/log/" ;;
    esac
    say "node $NODE is $state; config $CONF"
    echo "export SLURM_CONF=$CONF"
}

stop_pidfile() {  # stop_pidfile NAME PIDFILE: TERM the recorded pid, wait (bounded), then KILL
    local name="$1" pidfile="$2" pid
    if ! alive "$pidfile"; then
        rm -f "$pidfile"
        return 0
    fi
    pid="$(cat "$pidfile")"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        say "$name (pid $pid) ignored SIGTERM for 10 s; killing it"
        kill -9 "$pid" 2>/dev/null || true
    fi
    say "stopped $name (pid $pid)"
    rm -f "$pidfile"
}

down() {
    stop_pidfile slurmd "$DIR/run/slurmd.pid"
    stop_pidfile slurmctld "$DIR/run/slurmctld.pid"
    # only a munged this script started (its pid copied into $DIR/run); a system munged is left alone
    if [ -s "$DIR/run/munged.pid" ] && [ "$(cat "$DIR/run/munged.pid")" = "$(cat /run/munge/munged.pid 2>/dev/null)" ]; then
        stop_pidfile munged "$DIR/run/munged.pid"
    else
        rm -f "$DIR/run/munged.pid"
    fi
}

status() {
    local name rc=0
    for name in munged slurmctld slurmd; do
        if alive "$DIR/run/$name.pid"; then
            echo "$name: running (pid $(cat "$DIR/run/$name.pid"))"
        elif [ "$name" = munged ] && munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
            echo "munged: running (not started by this script)"
        else
            echo "$name: not running"
            rc=1
        fi
    done
    if [ -s "$CONF" ] && SLURM_CONF="$CONF" timeout 10 sinfo 2>/dev/null; then
        echo "export SLURM_CONF=$CONF"
    else
        echo "sinfo: no answer (config $CONF)"
        rc=1
    fi
    return "$rc"
}

case "${1:-}" in
    up) up ;;
    down) down ;;
    status) status ;;
    *) echo "usage: bash $0 up|down|status   (state folder: \$HPCEVO_SLURM_DIR, default /tmp/hpcevo-slurm)" >&2
       exit 2 ;;
esac
