#!/usr/bin/env bash
# A real single-node SLURM cluster on this machine, for trying and testing the workflow's SLURM
# profile (profiles/slurm) without a cluster: munge, a private MariaDB, slurmdbd (so `sacct`
# works), slurmctld and slurmd, all on localhost.
#
#   scripts/slurm-local.sh up       # install the Debian packages if missing, start everything
#   scripts/slurm-local.sh status   # what is running, the node's state, the account
#   scripts/slurm-local.sh down     # stop the daemons this script started (PID files)
#
# Needs root on Debian/Ubuntu (apt-get); works without systemd (daemons are started by hand).
# Everything it writes lives under $EEVFLOW_SLURM_DIR (default /tmp/eevflow-slurm), except
# /etc/slurm/slurm.conf: every SLURM client command reads that file, so a copy is put there,
# marked with a header line. An /etc/slurm/slurm.conf without that header belongs to a real
# cluster and is never touched: `up` refuses to run instead.
#
# Settings (environment):
#   EEVFLOW_SLURM_DIR        state, configs, logs, PID files, database (default /tmp/eevflow-slurm)
#   EEVFLOW_SLURM_PARTITION  partition name (default debug)
#   EEVFLOW_SLURM_ACCOUNT    account name, also the cluster name (default eevflow)
#   EEVFLOW_SLURM_USER       user given an association with the account (default: the user who
#                            ran sudo, else the current user)
set -euo pipefail

STATE=${EEVFLOW_SLURM_DIR:-/tmp/eevflow-slurm}
PARTITION=${EEVFLOW_SLURM_PARTITION:-debug}
ACCOUNT=${EEVFLOW_SLURM_ACCOUNT:-eevflow}
CLUSTER=$ACCOUNT
SUBMIT_USER=${EEVFLOW_SLURM_USER:-${SUDO_USER:-$(id -un)}}
MARKER="# eevflow-slurm-local: written by scripts/slurm-local.sh"
SYSTEM_CONF=/etc/slurm/slurm.conf
PACKAGES=(munge slurm-client slurmctld slurmd slurmdbd mariadb-server)

# Per-daemon folders: each daemon writes its own PID file, so its folder belongs to the user it
# runs as (munge and mysql); the SLURM daemons run as root (SlurmUser=root).
ETC=$STATE/etc
RUN=$STATE/run
LOG=$STATE/log
MUNGE_DIR=$STATE/munge
DB_DIR=$STATE/mysql
DB_RUN=$STATE/mysql-run
DB_SOCK=$DB_RUN/mysqld.sock
MUNGE_SOCK=/run/munge/munge.socket.2   # the default socket, where SLURM's auth/munge looks

# Daemons are started with SLURM_CONF pointing at the state copy of slurm.conf; slurmdbd reads
# slurmdbd.conf from the same folder. MYSQL_UNIX_PORT is how slurmdbd (libmariadb) finds the
# private database's socket: slurmdbd.conf has no setting for it.
export SLURM_CONF=$ETC/slurm.conf
export MYSQL_UNIX_PORT=$DB_SOCK

log() { printf '[slurm-local] %s\n' "$*" >&2; }
die() { printf '[slurm-local] error: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# --- PID files ----------------------------------------------------------------------------------

pidfile() {
    case $1 in
        munged) echo "$MUNGE_DIR/munged.pid" ;;
        mariadbd) echo "$DB_RUN/mariadbd.pid" ;;
        *) echo "$RUN/$1.pid" ;;
    esac
}

# The PID in $1's PID file if that process is alive and is that daemon, else nothing.
running_pid() {
    local name=$1 file pid comm
    file=$(pidfile "$name")
    [[ -s $file ]] || return 1
    pid=$(tr -dc '0-9' <"$file")
    [[ -n $pid && -d /proc/$pid ]] || return 1
    comm=$(cat "/proc/$pid/comm" 2>/dev/null || true)
    [[ $comm == "$name" ]] || return 1   # a recycled PID is not ours
    echo "$pid"
}

wait_for() {  # wait_for SECONDS COMMAND...: poll COMMAND every 0.2 s until it succeeds
    local limit=$1 t0
    shift
    t0=$(date +%s)
    until "$@" >/dev/null 2>&1; do
        (($(date +%s) - t0 < limit)) || return 1
        sleep 0.2
    done
}

port_in_use() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }

# --- packages -----------------------------------------------------------------------------------

# Non-interactive, waiting (rather than failing) while another apt/dpkg holds the lock.
apt_get() { DEBIAN_FRONTEND=noninteractive apt-get -y -q -o DPkg::Lock::Timeout=300 "$@"; }

install_packages() {
    local missing=() p t0
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
    done
    ((${#missing[@]})) || return 0
    [[ $(id -u) == 0 ]] ||
        die "packages missing (${missing[*]}) and not root: install them, or run as root"
    command -v apt-get >/dev/null ||
        die "packages missing (${missing[*]}) and no apt-get on this machine"
    t0=$(now)
    log "installing ${missing[*]}"
    # Keep the packages' maintainer scripts from starting their services (slurmctld, mariadb...):
    # this script starts its own, privately configured, daemons. policy-rc.d exit 101 = "not
    # allowed"; a policy-rc.d already there (as in Docker images) is left as it is.
    local policy=/usr/sbin/policy-rc.d made_policy=0
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && made_policy=1
    fi
    local rc=0
    apt_get install --no-install-recommends "${missing[@]}" >"$LOG/apt.log" 2>&1 || {
        # A fresh machine may have no (or stale) package lists.
        log "apt-get install failed; running apt-get update and trying again"
        { apt_get update && apt_get install --no-install-recommends "${missing[@]}"; } \
            >>"$LOG/apt.log" 2>&1 || rc=$?
    }
    ((made_policy)) && rm -f "$policy"
    if ((rc != 0)); then
        tail -n 20 "$LOG/apt.log" >&2
        die "apt-get install ${missing[*]} failed (log: $LOG/apt.log)"
    fi
    log "packages installed in $(elapsed "$t0") s"
}

# --- configuration ------------------------------------------------------------------------------

# /etc/slurm/slurm.conf: ours (marker on line 1) or absent; anything else is a real cluster's.
check_system_conf() {
    if [[ -e $SYSTEM_CONF ]] && ! head -n 1 "$SYSTEM_CONF" | grep -qF "$MARKER"; then
        die "$SYSTEM_CONF exists and was not written by this script (no '$MARKER' header): \
refusing to overwrite a real cluster's configuration. Move it away to use scripts/slurm-local.sh."
    fi
}

# Writes $2 to $1 when it differs; returns 0 if the file changed.
write_if_changed() {
    local dest=$1 content=$2
    if [[ -f $dest ]] && [[ $(cat "$dest") == "$content" ]]; then return 1; fi
    printf '%s\n' "$content" >"$dest.tmp" && mv -f "$dest.tmp" "$dest"
}

node_line() {
    # `slurmd -C` prints this machine's layout (CPUs, sockets, cores, threads, memory) in
    # slurm.conf syntax. It needs a config to parse, hence the minimal one.
    local probe
    probe=$(mktemp)
    printf 'ClusterName=probe\nSlurmctldHost=localhost\n' >"$probe"
    local layout
    layout=$(SLURM_CONF=$probe slurmd -C 2>/dev/null | head -n 1) || true
    rm -f "$probe"
    [[ $layout == NodeName=* ]] || die "slurmd -C did not report the node layout (got: '$layout')"
    local mem cpus_etc
    mem=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$layout")
    cpus_etc=$(sed -e 's/^NodeName=[^ ]* //' -e 's/ *RealMemory=[0-9]*//' -e 's/ *UpTime=.*//' <<<"$layout")
    # RealMemory a little below what slurmd measures: a node whose measured memory is lower than
    # its configured RealMemory is drained ("Low RealMemory"), and free memory fluctuates.
    mem=$((mem * 95 / 100))
    echo "NodeName=$(hostname -s) NodeAddr=127.0.0.1 $cpus_etc RealMemory=$mem State=UNKNOWN"
}

write_configs() {
    mkdir -p "$ETC" "$RUN" "$LOG" "$STATE/ctld" "$STATE/slurmd" "$(dirname "$SYSTEM_CONF")"
    local node changed=0
    node=$(node_line)
    local conf
    conf=$(cat <<EOF
$MARKER ($STATE).
# A throw-away single-node cluster for testing; see the script for how it is run.
ClusterName=$CLUSTER
# The controller and the only node are this machine, over loopback.
SlurmctldHost=localhost
# Daemons and job steps run as root: the script starts them as root, with no service manager.
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CryptoType=crypto/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/slurmd
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=$LOG/slurmctld.log
SlurmdLogFile=$LOG/slurmd.log
# No cgroups (containers and VMs without systemd rarely have a usable cgroup tree): processes
# are tracked through /proc, and tasks pinned to CPUs with sched_setaffinity.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/affinity
JobAcctGatherType=jobacct_gather/linux
MpiDefault=none
# No mail from this cluster (the default mailer is not installed).
MailProg=/bin/true
SwitchType=switch/none
# Jobs get whole cores and a share of memory, so --cpus-per-task and --mem are honoured.
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# Reject at submission a job that can never run here (e.g. more CPUs or memory than the node
# has), instead of leaving it pending forever with reason PartitionConfig.
EnforcePartLimits=ALL
# A node that was down (e.g. slurmd restarted) becomes usable again as soon as it registers.
ReturnToService=2
# Keep finished jobs in the controller's memory for 5 minutes (squeue/scontrol still see them).
MinJobAge=300
KillWait=10
# Job accounting in slurmdbd (MariaDB behind it), so sacct reports every job. Enforcing
# associations makes this cluster behave like a real one: jobs need a valid account.
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStorageEnforce=associations
# Keep each job's --comment in the database: the Snakemake plugin writes the rule and wildcards
# there, so "sacct -o JobID,Comment" tells which rule a SLURM job ran.
AccountingStoreFlags=job_comment
JobCompType=jobcomp/none
$node
PartitionName=$PARTITION Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
)
    write_if_changed "$ETC/slurm.conf" "$conf" && changed=1
    # Clients (sinfo, sbatch, sacct, the Snakemake plugin) read /etc/slurm/slurm.conf.
    write_if_changed "$SYSTEM_CONF" "$conf" || true

    local dbd
    dbd=$(cat <<EOF
# eevflow-slurm-local: slurmdbd for the test cluster; mode 600 (slurmdbd refuses others).
DbdHost=localhost
SlurmUser=root
AuthType=auth/munge
PidFile=$RUN/slurmdbd.pid
LogFile=$LOG/slurmdbd.log
# The private MariaDB: root connects over the Unix socket (named by MYSQL_UNIX_PORT) with
# unix_socket authentication, so there is no password to keep.
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=root
StorageLoc=slurm_acct_db
EOF
)
    write_if_changed "$ETC/slurmdbd.conf" "$dbd" && changed=1
    chmod 600 "$ETC/slurmdbd.conf"
    if ((changed)) && { running_pid slurmctld || running_pid slurmdbd || running_pid slurmd; } >/dev/null; then
        log "warning: the configuration changed while daemons run; run 'down' then 'up' to apply it"
    fi
}

# --- daemons ------------------------------------------------------------------------------------

munge_works() { munge -n -S "$MUNGE_SOCK" </dev/null 2>/dev/null | unmunge -S "$MUNGE_SOCK" >/dev/null 2>&1; }

start_munged() {
    if running_pid munged >/dev/null; then return 0; fi
    if munge_works; then
        log "munged: a munged not started by this script is already running; using it"
        return 0
    fi
    [[ -s /etc/munge/munge.key ]] || {
        log "munged: creating /etc/munge/munge.key"
        mungekey --create --keyfile=/etc/munge/munge.key
    }
    # munged refuses a key, socket folder or log folder that others could write to, and runs
    # as the munge user: everything it touches belongs to munge.
    chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
    mkdir -p /run/munge "$MUNGE_DIR"
    chown munge:munge /run/munge "$MUNGE_DIR" && chmod 755 /run/munge && chmod 700 "$MUNGE_DIR"
    runuser -u munge -- /usr/sbin/munged --force --socket="$MUNGE_SOCK" \
        --key-file=/etc/munge/munge.key --pid-file="$MUNGE_DIR/munged.pid" \
        --log-file="$MUNGE_DIR/munged.log" --seed-file="$MUNGE_DIR/munged.seed" \
        </dev/null >>"$LOG/munged.out" 2>&1 ||
        die "munged did not start: $(tail -n 5 "$MUNGE_DIR/munged.log" "$LOG/munged.out" 2>/dev/null)"
    wait_for 10 munge_works || die "munged started but does not answer (log: $MUNGE_DIR/munged.log)"
}

db() { mariadb --no-defaults --socket="$DB_SOCK" -u root "$@"; }

start_mariadb() {
    if running_pid mariadbd >/dev/null; then return 0; fi
    mkdir -p "$DB_DIR" "$DB_RUN"
    chown mysql:mysql "$DB_DIR" "$DB_RUN"
    if [[ ! -d $DB_DIR/mysql ]]; then
        # --no-defaults: ignore /etc/mysql (the system's server, if any, is not touched).
        mariadb-install-db --no-defaults --user=mysql --datadir="$DB_DIR" \
            --auth-root-authentication-method=socket --skip-test-db >"$LOG/mariadb-install.log" 2>&1 ||
            die "mariadb-install-db failed (log: $LOG/mariadb-install.log)"
    fi
    # A private server: no TCP port at all (--skip-networking), only a socket in the state dir.
    setsid /usr/sbin/mariadbd --no-defaults --user=mysql --datadir="$DB_DIR" \
        --socket="$DB_SOCK" --pid-file="$DB_RUN/mariadbd.pid" --skip-networking \
        --log-error="$LOG/mariadb.log" --innodb-buffer-pool-size=64M \
        </dev/null >>"$LOG/mariadb.out" 2>&1 &
    wait_for 60 db -e "SELECT 1" ||
        die "MariaDB did not start: $(tail -n 5 "$LOG/mariadb.log" 2>/dev/null)"
    wait_for 10 running_pid mariadbd || die "MariaDB wrote no PID file"
}

start_slurm_daemon() {  # start_slurm_daemon NAME PORT CHECK-COMMAND...
    local name=$1 port=$2
    shift 2
    if running_pid "$name" >/dev/null; then return 0; fi
    if port_in_use "$port"; then
        die "$name: port $port is already in use by a process this script did not start \
(another SLURM?): $(ss -Hltnp "sport = :$port" | head -n 1)"
    fi
    # The daemons fork into the background themselves and write their PID files.
    "/usr/sbin/$name" </dev/null >>"$LOG/$name.out" 2>&1 ||
        die "$name did not start: $(tail -n 5 "$LOG/$name.log" "$LOG/$name.out" 2>/dev/null)"
    wait_for 30 "$@" ||
        die "$name started but does not answer: $(tail -n 5 "$LOG/$name.log" 2>/dev/null)"
}

dbd_answers() { sacctmgr -n -P list cluster format=cluster; }
ctld_answers() { scontrol ping | grep -q "is UP"; }
no_jobs() { [[ -z $(squeue -h -o %i 2>/dev/null) ]]; }
node_idle() { sinfo -h -N -n "$(hostname -s)" -o %t | grep -qx "idle"; }

ensure_accounting() {
    # Cluster, account and the submitting user's association (its default account).
    if ! sacctmgr -n -P list cluster format=cluster | grep -qx "$CLUSTER"; then
        sacctmgr -i add cluster "$CLUSTER" >/dev/null
    fi
    if ! sacctmgr -n -P list account format=account | grep -qx "$ACCOUNT"; then
        sacctmgr -i add account "$ACCOUNT" Cluster="$CLUSTER" \
            Description="eevflow test account" Organization=eevflow >/dev/null
    fi
    if ! sacctmgr -n -P list assoc cluster="$CLUSTER" account="$ACCOUNT" user="$SUBMIT_USER" \
        format=user | grep -qx "$SUBMIT_USER"; then
        sacctmgr -i add user "$SUBMIT_USER" Cluster="$CLUSTER" Account="$ACCOUNT" \
            DefaultAccount="$ACCOUNT" >/dev/null
    fi
}

cmd_up() {
    [[ $(id -u) == 0 ]] || die "'up' must run as root (it starts munged, MariaDB and SLURM daemons)"
    mkdir -p "$STATE" "$LOG"
    chmod 755 "$STATE"   # munge and mysql must be able to reach their folders inside it
    check_system_conf
    local t_all
    t_all=$(now)
    install_packages
    local t0
    t0=$(now)
    write_configs
    start_munged
    start_mariadb
    start_slurm_daemon slurmdbd 6819 dbd_answers
    # The cluster must be known to slurmdbd before slurmctld registers with it.
    sacctmgr -n -P list cluster format=cluster | grep -qx "$CLUSTER" ||
        sacctmgr -i add cluster "$CLUSTER" >/dev/null
    start_slurm_daemon slurmctld 6817 ctld_answers
    ensure_accounting
    start_slurm_daemon slurmd 6818 true
    # Undrain the node if a previous run left it down (e.g. killed mid-job).
    if sinfo -h -N -n "$(hostname -s)" -o %t | grep -qE "down|drain"; then
        scontrol update NodeName="$(hostname -s)" State=RESUME >/dev/null 2>&1 || true
    fi
    wait_for 60 node_idle ||
        die "node $(hostname -s) is not idle: $(sinfo -h -N -o '%N %t %E') (logs: $LOG)"
    log "up in $(elapsed "$t0") s (packages and all: $(elapsed "$t_all") s); state in $STATE"
    echo "partition=$PARTITION"
    echo "account=$ACCOUNT"
}

stop_daemon() {  # stop_daemon NAME: TERM, wait, KILL; only the process named in our PID file
    local name=$1 pid i
    pid=$(running_pid "$name") || { rm -f "$(pidfile "$name")"; return 0; }
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 150; i++)); do
        [[ -d /proc/$pid ]] || break
        sleep 0.2
    done
    if [[ -d /proc/$pid ]]; then
        log "$name (pid $pid) did not stop in 30 s; killing it"
        kill -KILL "$pid" 2>/dev/null || true
        sleep 0.5
    fi
    rm -f "$(pidfile "$name")"
    log "stopped $name (pid $pid)"
}

cmd_down() {
    if running_pid slurmctld >/dev/null; then
        # Cancel what is still queued or running, so no job step outlives slurmd.
        local jobs
        jobs=$(squeue -h -o %i 2>/dev/null || true)
        if [[ -n $jobs ]]; then
            log "cancelling jobs: $(tr '\n' ' ' <<<"$jobs")"
            # shellcheck disable=SC2086
            scancel $jobs 2>/dev/null || true
            wait_for 30 no_jobs || true
        fi
    fi
    stop_daemon slurmd
    stop_daemon slurmctld
    stop_daemon slurmdbd
    stop_daemon mariadbd
    stop_daemon munged
    # A job step (slurmstepd) of a job that did not end would survive slurmd: name it.
    local left
    left=$(pgrep -a -x slurmstepd || true)
    [[ -z $left ]] || log "warning: slurmstepd processes still running: $left"
}

cmd_status() {
    local name pid rc=0
    echo "state: $STATE"
    for name in munged mariadbd slurmdbd slurmctld slurmd; do
        if pid=$(running_pid "$name"); then
            echo "$name: running (pid $pid)"
        else
            echo "$name: stopped"
            rc=3
        fi
    done
    if ((rc == 0)); then
        sinfo -N -o "%N %P %t %c %m" || rc=3
        sacctmgr -n -P list assoc cluster="$CLUSTER" format=cluster,account,user || rc=3
    fi
    return $rc
}

case ${1:-} in
    up) cmd_up ;;
    down) cmd_down ;;
    status) cmd_status ;;
    *)
        echo "usage: $0 up|down|status   (state in \$EEVFLOW_SLURM_DIR, default /tmp/eevflow-slurm)" >&2
        exit 2
        ;;
esac
