#!/usr/bin/env bash
# Make a real Docker engine and the local base images available for tests and CI.
#
# Usage: tests/docker_engine.sh [start|stop|status|where]     (default: start)
#
#   start   Idempotent. If an engine answers (at DOCKER_HOST, else at the default socket,
#           else the private engine an earlier start made, see below), only ensure the
#           images. Otherwise install docker.io + debootstrap (apt) if missing, start
#           dockerd in the background and wait for its socket (60 s at most). Then ensure:
#             local/bookworm:min            debootstrap --variant=minbase bookworm, imported
#             local/python:3.11-bookworm    FROM local/bookworm:min + Debian's python3,
#                                           python3-venv, python3-pip, ca-certificates
#           Both are cached as `docker save` tarballs under $MODEL_CHECK_DOCKER_CACHE and
#           `docker load`-ed from there instead of being rebuilt.
#           With MODEL_CHECK_BASE_IMAGES=hub (hosted CI runners, where Docker Hub answers)
#           they are the official debian:bookworm-slim and python:3.11-slim-bookworm,
#           pulled and tagged with the local names instead: seconds instead of a minute,
#           and the tests then run on the base image users get by default.
#           The last line on stdout names the engine to use, for callers to eval or parse:
#             export DOCKER_HOST=unix:///var/run/docker.sock
#           (everything else goes to stderr).
#   stop    Stop the dockerd that this script started (and only that one).
#   status  Print whether the engine answers and which local images exist.
#   where   Print which engine `start` would use or start, and why; starts nothing.
#
# The default socket path unusable: a leftover directory there (a container run that
# mounted a missing /var/run/docker.sock leaves one), a stale socket no daemon answers on,
# or a folder this user cannot write. Then start runs a private engine under
# $MODEL_CHECK_DOCKERD_FALLBACK_ROOT instead (the MODEL_CHECK_DOCKERD_ROOT mechanism below),
# says what it found, and prints that engine's DOCKER_HOST; later starts find it there.
#
# Written for a root machine without Docker Hub (only Debian / PyPI reachable). Containers
# get no bridge network: builds that fetch packages use `--network host`, probes
# `--network none`. Not root: what needs root (apt, dockerd, debootstrap) runs through
# `sudo -n` when sudo allows it (hosted runners), else the script says what is missing.
#
# Environment:
#   MODEL_CHECK_DOCKER_CACHE   image tarball cache   (default /var/cache/model-check-docker;
#                              not root: ~/.cache/model-check-docker)
#   MODEL_CHECK_BASE_IMAGES    debootstrap (default) or hub (see start)
#   MODEL_CHECK_DOCKER_SOCKET  the machine engine's socket path (default /var/run/docker.sock)
#   MODEL_CHECK_DOCKERD_FALLBACK_ROOT  where the private engine goes when that path is
#                              unusable (default /var/lib/model-check-dockerd)
#   MODEL_CHECK_DEBIAN_MIRROR  Debian mirror for debootstrap / apt in the images
#                              (default: the one apt on this machine uses)
#   MODEL_CHECK_STORAGE_DRIVER overlay2 (default; falls back to vfs if it fails) or vfs
#   TMPDIR                     dockerd log, pid file, debootstrap scratch  (default /tmp)
#   MODEL_CHECK_DOCKERD_ROOT   if set: run a private dockerd with its data, state, log and
#                              socket under this directory (DOCKER_HOST=unix://DIR/docker.sock),
#                              beside any engine already on the machine. Callers then need
#                              that DOCKER_HOST too; `stop` with the same variable stops it.
set -euo pipefail

ACTION=${1:-start}
SCRIPT=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")
if [ "$(id -u)" -eq 0 ]; then
    CACHE_DIR=${MODEL_CHECK_DOCKER_CACHE:-/var/cache/model-check-docker}
else
    CACHE_DIR=${MODEL_CHECK_DOCKER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/model-check-docker}
fi
BASE_IMAGES=${MODEL_CHECK_BASE_IMAGES:-debootstrap}
WORK_TMP=${TMPDIR:-/tmp}
DEFAULT_SOCKET=${MODEL_CHECK_DOCKER_SOCKET:-/var/run/docker.sock}
FALLBACK_ROOT=${MODEL_CHECK_DOCKERD_FALLBACK_ROOT:-/var/lib/model-check-dockerd}
CALLER_DOCKER_HOST=${DOCKER_HOST:-}
DOCKERD_ROOT=
DOCKERD_EXTRA=()

# use_private_root DIR: a private engine beside any other on this machine (own data, state and socket).
use_private_root() {
    mkdir -p "$1"
    DOCKERD_ROOT=$(cd "$1" && pwd)
    SOCKET=$DOCKERD_ROOT/docker.sock
    DOCKERD_LOG=$DOCKERD_ROOT/dockerd.log
    DOCKERD_PIDFILE=$DOCKERD_ROOT/launcher.pid
    DOCKERD_EXTRA=(--data-root "$DOCKERD_ROOT/data" --exec-root "$DOCKERD_ROOT/exec"
        --pidfile "$DOCKERD_ROOT/dockerd.pid" --host "unix://$SOCKET")
    export DOCKER_HOST=unix://$SOCKET
}

# use_default_socket: the machine's engine, on DEFAULT_SOCKET.
use_default_socket() {
    DOCKERD_ROOT=
    SOCKET=$DEFAULT_SOCKET
    local state=$WORK_TMP/model-check-dockerd
    DOCKERD_EXTRA=()
    if [ "$SOCKET" != /var/run/docker.sock ]; then
        # another socket path: its own log and pid file, never those of the engine on the usual one
        state+=-$(printf '%s' "$SOCKET" | sha256sum | cut -c1-12)
        DOCKERD_EXTRA=(--host "unix://$SOCKET")
    fi
    DOCKERD_LOG=$state.log
    DOCKERD_PIDFILE=$state.pid
    export DOCKER_HOST=unix://$SOCKET
}

if [ -n "${MODEL_CHECK_DOCKERD_ROOT:-}" ]; then
    use_private_root "$MODEL_CHECK_DOCKERD_ROOT"
else
    use_default_socket
fi
WAIT_SECONDS=60
SUITE=bookworm
BASE_IMAGE=local/bookworm:min
PY_IMAGE=local/python:3.11-bookworm
# Bump when the recipes below change in a way the hashes do not capture.
RECIPE_VERSION=2

now() { date +%s.%N; }
# elapsed START -> seconds since START, one decimal
elapsed() { awk -v s="$1" -v e="$(now)" 'BEGIN { printf "%.1f", e - s }'; }
T0=$(now)
log() { printf '[docker_engine %6ss] %s\n' "$(elapsed "$T0")" "$*" >&2; }
die() { printf '[docker_engine] ERROR: %s\n' "$*" >&2; exit 1; }
# Run a command and log how long it took: timed LABEL CMD...
timed() {
    local label=$1 start rc=0
    shift
    start=$(now)
    "$@" || rc=$?
    local msg="$label took $(elapsed "$start") s"
    [ "$rc" -eq 0 ] || msg+=" (failed, exit $rc)"
    log "$msg"
    return "$rc"
}

# quiet LOGFILE CMD... : run CMD with its output going to LOGFILE only
quiet() {
    local out=$1
    shift
    "$@" >"$out" 2>&1
}

engine_up() { docker info >/dev/null 2>&1; }
# answers_at HOST: whether an engine answers at that DOCKER_HOST
answers_at() { DOCKER_HOST=$1 docker info >/dev/null 2>&1; }

# Run this script again as root through sudo (non-interactive), for what needs root: WHY.
as_root() {
    [ "$(id -u)" -eq 0 ] && return 0
    if [ -z "${MODEL_CHECK_SUDO:-}" ] && command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        log "not root: running again through sudo to $1"
        exec sudo -n --preserve-env MODEL_CHECK_SUDO=1 PATH="$PATH" bash "$SCRIPT" "$ACTION"
    fi
    die "need root to $1 (and sudo -n is not available)"
}

# Why DEFAULT_SOCKET cannot take a new engine's socket ("" when it can), once no engine answers there.
socket_problem() {
    local path=$DEFAULT_SOCKET parent
    parent=$(dirname "$path")
    if [ -d "$path" ]; then
        echo "$path is a directory (a leftover: \`docker run -v $path:...\` creates one where no socket was)"
    elif [ -S "$path" ]; then
        # stale: nothing listens (connecting is refused); a daemon that listens but does not answer
        # (still starting, or hung) is left to ensure_engine, which says so
        if ! python3 -c 'import socket, sys; s = socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect(sys.argv[1])' \
            "$path" 2>/dev/null; then
            echo "$path is a stale socket: no daemon listens on it"
        fi
    elif [ -e "$path" ] || [ -L "$path" ]; then
        echo "$path exists and is not a socket"
    elif [ -d "$parent" ] && ! [ -w "$parent" ] && [ "$(id -u)" -eq 0 ]; then
        echo "$parent is not writable, so dockerd cannot create $path"
    elif ! [ -d "$parent" ]; then
        mkdir -p "$parent" 2>/dev/null || echo "$parent does not exist and cannot be created"
    fi
}

# Decide which engine start uses: sets DOCKER_HOST (and the private root when one is needed).
# Prints nothing on stdout; says on stderr what it found when it leaves the default.
choose_engine() {
    if [ -n "$DOCKERD_ROOT" ]; then
        return 0  # MODEL_CHECK_DOCKERD_ROOT: the caller chose
    fi
    if [ -n "$CALLER_DOCKER_HOST" ] && [ "$CALLER_DOCKER_HOST" != "unix://$DEFAULT_SOCKET" ]; then
        if answers_at "$CALLER_DOCKER_HOST"; then
            export DOCKER_HOST=$CALLER_DOCKER_HOST
            CHOSEN="DOCKER_HOST=$CALLER_DOCKER_HOST (set by the caller)"
            return 0
        fi
        if [ "$CALLER_DOCKER_HOST" = "unix://$FALLBACK_ROOT/docker.sock" ]; then
            use_private_root "$FALLBACK_ROOT"
            CHOSEN="the private engine under $FALLBACK_ROOT (DOCKER_HOST set by the caller)"
            return 0
        fi
        die "DOCKER_HOST=$CALLER_DOCKER_HOST is set but no Docker engine answers there; unset DOCKER_HOST to let" \
            "this script use or start the machine's engine"
    fi
    if engine_up; then
        CHOSEN="the engine at $DEFAULT_SOCKET"
        return 0
    fi
    if answers_at "unix://$FALLBACK_ROOT/docker.sock"; then
        use_private_root "$FALLBACK_ROOT"
        CHOSEN="the private engine under $FALLBACK_ROOT, started earlier because $DEFAULT_SOCKET was unusable"
        return 0
    fi
    local problem
    problem=$(socket_problem)
    if [ -n "$problem" ]; then
        log "WARNING: $problem; starting a private engine under $FALLBACK_ROOT on its own socket instead" \
            "(callers use DOCKER_HOST=unix://$FALLBACK_ROOT/docker.sock; remove $DEFAULT_SOCKET to use the default again)"
        use_private_root "$FALLBACK_ROOT"
        CHOSEN="a private engine under $FALLBACK_ROOT, because $problem"
        return 0
    fi
    CHOSEN="an engine to start at $DEFAULT_SOCKET"
}

# ---------------------------------------------------------------------------- packages
ensure_packages() {
    local missing=()
    command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
    command -v docker >/dev/null 2>&1 || missing+=(docker.io)
    command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
    [ ${#missing[@]} -eq 0 ] && return 0
    as_root "install ${missing[*]}"
    # unique names
    mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
    log "installing ${missing[*]} with apt"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y --no-install-recommends "${missing[@]}" >"$WORK_TMP/model-check-apt.log" 2>&1; then
        apt-get update >>"$WORK_TMP/model-check-apt.log" 2>&1 || true
        apt-get install -y --no-install-recommends "${missing[@]}" >>"$WORK_TMP/model-check-apt.log" 2>&1 \
            || die "apt-get install ${missing[*]} failed, see $WORK_TMP/model-check-apt.log"
    fi
}

# ---------------------------------------------------------------------------- engine
# Print the pid of the dockerd we started, if it is still alive.
our_dockerd_pid() {
    local pid
    [ -f "$DOCKERD_PIDFILE" ] || return 1
    pid=$(cat "$DOCKERD_PIDFILE")
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dockerd ] || return 1
    echo "$pid"
}

# A stopped or failed dockerd leaves mounts behind (its netns bind mount, the data root
# mounted on itself): with a private root, unmount them so that the directory can be
# deleted. (The system engine's /var/lib/docker is left alone: dockerd reuses it.)
unmount_leftovers() {
    [ -n "$DOCKERD_ROOT" ] || return 0
    local mnt
    findmnt -rn -o TARGET | grep -F "$DOCKERD_ROOT/" | sort -r | while read -r mnt; do
        umount -l "$mnt" 2>/dev/null || true
    done || true   # grep finds nothing: fine
}

# start_dockerd DRIVER -> 0 when the socket answers within WAIT_SECONDS
start_dockerd() {
    local driver=$1 pid i
    START_ERRORS=
    log "starting dockerd (storage driver $driver), log: $DOCKERD_LOG"
    printf '\n===== %s dockerd --storage-driver=%s\n' "$(date -Is)" "$driver" >>"$DOCKERD_LOG"
    # setsid: not killed with the calling shell / CI step's process group.
    setsid dockerd --iptables=false --ip6tables=false --bridge=none \
        --storage-driver="$driver" "${DOCKERD_EXTRA[@]}" </dev/null >>"$DOCKERD_LOG" 2>&1 &
    pid=$!
    echo "$pid" >"$DOCKERD_PIDFILE"
    for ((i = 0; i < WAIT_SECONDS * 4; i++)); do
        if [ -S "$SOCKET" ] && engine_up; then
            return 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            START_ERRORS=$(sed -n '/^===== /h; /^===== /!H; ${x;p}' "$DOCKERD_LOG" \
                | grep -E 'level=(error|fatal)|^failed|Error' | tail -n 5 || true)
            log "dockerd (pid $pid) exited during start-up; errors from $DOCKERD_LOG:"
            sed 's/^/    /' <<<"$START_ERRORS" >&2
            rm -f "$DOCKERD_PIDFILE"
            unmount_leftovers
            return 1
        fi
        sleep 0.25
    done
    log "dockerd (pid $pid) did not answer on $SOCKET within ${WAIT_SECONDS}s; stopping it"
    kill "$pid" 2>/dev/null || true
    for ((i = 0; i < 40; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    rm -f "$DOCKERD_PIDFILE"
    unmount_leftovers
    return 1
}

ensure_engine() {
    if engine_up; then
        log "docker engine already running ($(docker info --format '{{.ServerVersion}}, storage {{.Driver}}'))"
        return 0
    fi
    as_root "start dockerd (no Docker engine answers)"
    ensure_packages
    # One starter at a time (parallel test jobs); the loser finds the engine up.
    local lock=${DOCKERD_ROOT:-/run}/model-check-dockerd.lock
    exec 8>"$lock"
    flock -w $((WAIT_SECONDS * 2)) 8 || die "could not take $lock within $((WAIT_SECONDS * 2)) s"
    if engine_up; then
        log "docker engine started meanwhile by another caller"
        flock -u 8
        return 0
    fi
    local pid
    if pid=$(our_dockerd_pid); then
        die "dockerd (pid $pid, started by this script) runs but does not answer; see $DOCKERD_LOG"
    fi
    if [ -z "$DOCKERD_ROOT" ] && [ -f /var/run/docker.pid ] && kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
        die "a dockerd not started by this script runs (pid $(cat /var/run/docker.pid)) but $SOCKET does not answer"
    fi
    local driver=${MODEL_CHECK_STORAGE_DRIVER:-overlay2}
    if start_dockerd "$driver"; then
        :
    elif [ "$driver" = overlay2 ] && grep -qiE 'overlay|graphdriver' <<<"$START_ERRORS"; then
        local fstype
        fstype=$(stat -f -c %T "${DOCKERD_ROOT:-/var/lib/docker}" 2>/dev/null || echo unknown)
        log "WARNING: overlay2 does not work here (kernel $(uname -r), data root on $fstype);" \
            "falling back to the vfs storage driver (slower, every layer a full copy)"
        start_dockerd vfs || die "dockerd could not start, neither with overlay2 nor with vfs; see $DOCKERD_LOG"
    else
        die "dockerd could not start (storage driver $driver); see $DOCKERD_LOG"
    fi
    flock -u 8
    log "docker engine ready: $(docker info --format '{{.ServerVersion}}, storage {{.Driver}}, cgroup v{{.CgroupVersion}}')" \
        "(pid $(cat "$DOCKERD_PIDFILE"); stop with: $0 stop)"
}

stop_engine() {
    local pid i
    if ! pid=$(our_dockerd_pid); then
        log "no dockerd started by this script is running"
        rm -f "$DOCKERD_PIDFILE"
        return 0
    fi
    as_root "stop dockerd (pid $pid)"
    log "stopping dockerd (pid $pid)"
    kill -TERM "$pid"
    for ((i = 0; i < 120; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.25
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "dockerd (pid $pid) still alive after 30 s, sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$DOCKERD_PIDFILE"
    unmount_leftovers
    log "dockerd stopped"
}

# ---------------------------------------------------------------------------- mirror
# The Debian mirror (URI) that apt on this machine uses for SUITE (and SUITE-security).
# Reads both one-line (*.list) and deb822 (*.sources) formats.
apt_uri_for_suite() {
    local want=$1 f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        case $f in
        *.sources)
            # deb822: blank-line separated stanzas; take URIs of a "deb" stanza listing the suite
            awk -v want="$want" '
                function flush() {
                    if (types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " want " ") && enabled != "no" && uris != "") {
                        split(uris, u, " "); print u[1]; found = 1; exit
                    }
                    types = ""; suites = ""; uris = ""; enabled = ""
                }
                /^[ \t]*#/ { next }
                /^[ \t]*$/ { flush(); next }
                { key = tolower($1); sub(/:$/, "", key); $1 = ""; sub(/^ +/, "")
                  if (key == "types") types = $0
                  else if (key == "suites") suites = $0
                  else if (key == "uris") uris = $0
                  else if (key == "enabled") enabled = tolower($0) }
                END { if (!found) flush() }
            ' "$f"
            ;;
        *)
            # one-line: deb [opts] URI SUITE COMPONENTS...
            awk -v want="$want" '
                $1 == "deb" {
                    i = 2
                    if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
                    if ($(i + 1) == want) { print $i; exit }
                }' "$f"
            ;;
        esac
    done | head -n 1 || true   # head may close the pipe early (SIGPIPE + pipefail)
}

detect_mirror() {
    if [ -n "${MODEL_CHECK_DEBIAN_MIRROR:-}" ]; then
        MIRROR=$MODEL_CHECK_DEBIAN_MIRROR
    else
        MIRROR=$(apt_uri_for_suite "$SUITE")
        [ -n "$MIRROR" ] || MIRROR=http://deb.debian.org/debian
    fi
    SECURITY_MIRROR=$(apt_uri_for_suite "$SUITE-security")
    MIRROR=${MIRROR%/}
    SECURITY_MIRROR=${SECURITY_MIRROR%/}
}

# ---------------------------------------------------------------------------- images
image_present() { docker image inspect "$1" >/dev/null 2>&1; }

# Save IMAGE to TARBALL atomically (no half-written cache files if interrupted).
save_image() {
    local image=$1 tarball=$2
    mkdir -p "$CACHE_DIR"
    timed "docker save $image" docker save -o "$tarball.part" "$image"
    mv -f "$tarball.part" "$tarball"
    log "cached $image as $tarball ($(du -h "$tarball" | cut -f1))"
}

# Drop cache files of older recipes for the same image name prefix.
prune_cache() {
    local prefix=$1 keep=$2 f
    for f in "$CACHE_DIR/$prefix"-*.tar; do
        [ -e "$f" ] && [ "$f" != "$keep" ] && { log "removing stale cache $f"; rm -f "$f"; }
    done
    return 0
}

sources_list() {
    echo "deb $MIRROR $SUITE main"
    echo "deb $MIRROR $SUITE-updates main"
    if [ -n "$SECURITY_MIRROR" ]; then echo "deb $SECURITY_MIRROR $SUITE-security main"; fi
}

build_base_image() {
    as_root "build $BASE_IMAGE with debootstrap"
    ensure_packages
    local rootfs keyring=() scratch
    scratch=$(mktemp -d "$WORK_TMP/model-check-rootfs.XXXXXX")
    rootfs=$scratch/rootfs
    # shellcheck disable=SC2064
    trap "rm -rf '$scratch'" EXIT
    [ -f /usr/share/keyrings/debian-archive-keyring.gpg ] \
        && keyring=(--keyring=/usr/share/keyrings/debian-archive-keyring.gpg)
    log "debootstrap --variant=minbase $SUITE from $MIRROR (log: $WORK_TMP/model-check-debootstrap.log)"
    if ! timed "debootstrap" quiet "$WORK_TMP/model-check-debootstrap.log" \
        debootstrap --variant=minbase "${keyring[@]}" "$SUITE" "$rootfs" "$MIRROR"; then
        tail -n 20 "$WORK_TMP/model-check-debootstrap.log" >&2
        die "debootstrap failed (mirror $MIRROR); full log: $WORK_TMP/model-check-debootstrap.log"
    fi
    slim_rootfs "$rootfs"
    timed "docker import $BASE_IMAGE" import_rootfs "$rootfs"
    rm -rf "$scratch"
    trap - EXIT
}

# slim_rootfs ROOTFS: clean a fresh debootstrap tree before import. Every path below is
# relative and used only after a successful `cd ROOTFS` (in a subshell): never the host's.
slim_rootfs() {
    local rootfs=$1
    [ -n "$rootfs" ] && [ "$rootfs" != / ] && [ -f "$rootfs/etc/debian_version" ] \
        || die "refusing to clean '$rootfs': not a debootstrap tree"
    (
        cd "$rootfs"
        # Host-specific files docker provides at run time anyway.
        sources_list >./etc/apt/sources.list
        : >./etc/resolv.conf
        rm -f ./etc/hostname
        # "slim" like Debian's official images: no docs / man pages / translations, now
        # and for every package installed later (base image ~117 MB -> ~70 MB).
        printf '%s\n' \
            'path-exclude /usr/share/doc/*' \
            'path-include /usr/share/doc/*/copyright' \
            'path-exclude /usr/share/man/*' \
            'path-exclude /usr/share/groff/*' \
            'path-exclude /usr/share/info/*' \
            'path-exclude /usr/share/lintian/*' \
            'path-exclude /usr/share/linda/*' \
            'path-exclude /usr/share/locale/*' \
            >./etc/dpkg/dpkg.cfg.d/model-check-slim
        echo 'APT::Keep-Downloaded-Packages "false";' >./etc/apt/apt.conf.d/model-check-clean
        find ./usr/share/doc -mindepth 1 -not -type d -not -name copyright -delete
        find ./usr/share/doc -mindepth 1 -type d -empty -delete
        rm -rf ./usr/share/man/* ./usr/share/groff/* ./usr/share/info/* ./usr/share/lintian/* \
            ./usr/share/linda/* ./usr/share/locale/*
        rm -rf ./var/cache/apt/archives/*.deb ./var/cache/apt/*.bin ./var/lib/apt/lists/* \
            ./var/log/*.log ./var/log/apt/*
    )
}

import_rootfs() {
    tar --numeric-owner -C "$1" -c . \
        | docker import -c 'ENV LANG=C.UTF-8' -c 'CMD ["bash"]' - "$BASE_IMAGE" >/dev/null
}

python_dockerfile() {
    cat <<'EOF'
FROM local/bookworm:min
ENV DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
        python3 python3-venv python3-pip python-is-python3 ca-certificates \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/*
CMD ["python3"]
EOF
}

build_python_image() {
    local ctx
    ctx=$(mktemp -d "$WORK_TMP/model-check-pyctx.XXXXXX")
    python_dockerfile >"$ctx/Dockerfile"
    log "building $PY_IMAGE (docker build --network host; log: $WORK_TMP/model-check-pybuild.log)"
    # Legacy builder: the dockerd here (20.10) has BuildKit built in, but the docker CLI in
    # PATH may be a newer one that needs the (absent) buildx plugin for BuildKit.
    if ! timed "docker build $PY_IMAGE" quiet "$WORK_TMP/model-check-pybuild.log" \
        env DOCKER_BUILDKIT=0 docker build --network host -t "$PY_IMAGE" "$ctx"; then
        tail -n 20 "$WORK_TMP/model-check-pybuild.log" >&2
        rm -rf "$ctx"
        die "building $PY_IMAGE failed; full log: $WORK_TMP/model-check-pybuild.log"
    fi
    rm -rf "$ctx"
}

# ensure_image IMAGE CACHE_PREFIX RECIPE_TEXT BUILD_FUNCTION
ensure_image() {
    local image=$1 prefix=$2 recipe=$3 build=$4 hash tarball
    hash=$(printf '%s\n' "$RECIPE_VERSION" "$recipe" | sha256sum | cut -c1-12)
    tarball=$CACHE_DIR/$prefix-$hash.tar
    if image_present "$image"; then
        log "$image present ($(image_size "$image"))"
        [ -f "$tarball" ] || save_image "$image" "$tarball"
        return 0
    fi
    if [ -f "$tarball" ]; then
        log "loading $image from $tarball"
        if timed "docker load $image" docker load -q -i "$tarball" >/dev/null && image_present "$image"; then
            return 0
        fi
        log "WARNING: loading $tarball failed; removing it and rebuilding"
        rm -f "$tarball"
    fi
    "$build"
    image_present "$image" || die "$image missing after build"
    log "$image built ($(image_size "$image"))"
    save_image "$image" "$tarball"
    prune_cache "$prefix" "$tarball"
}

image_size() {
    docker image inspect -f '{{.Size}}' "$1" | awk '{printf "%.0f MB", $1 / 1e6}'
}

# hub_image TARGET SOURCE: the official image SOURCE from Docker Hub, tagged TARGET.
hub_image() {
    local target=$1 source=$2
    if image_present "$target"; then
        log "$target present ($(image_size "$target"))"
        return 0
    fi
    timed "docker pull $source" quiet "$WORK_TMP/model-check-pull.log" docker pull "$source" \
        || { tail -n 5 "$WORK_TMP/model-check-pull.log" >&2; die "docker pull $source failed (is Docker Hub reachable?)"; }
    docker tag "$source" "$target"
    log "$target is $source ($(image_size "$target"))"
}

ensure_images() {
    if [ "$BASE_IMAGES" = hub ]; then
        hub_image "$BASE_IMAGE" debian:bookworm-slim
        hub_image "$PY_IMAGE" python:3.11-slim-bookworm
        return 0
    fi
    [ "$BASE_IMAGES" = debootstrap ] || die "MODEL_CHECK_BASE_IMAGES must be debootstrap or hub, not '$BASE_IMAGES'"
    detect_mirror
    mkdir -p "$CACHE_DIR"
    # One builder at a time per cache (parallel CI jobs on one machine).
    exec 9>"$CACHE_DIR/.lock"
    flock 9
    log "Debian mirror: $MIRROR${SECURITY_MIRROR:+ (security: $SECURITY_MIRROR)}; cache: $CACHE_DIR"
    ensure_image "$BASE_IMAGE" bookworm-min \
        "debootstrap minbase $SUITE $MIRROR $(sources_list)" build_base_image
    # The python image's cache key includes the base image's identity: a rebuilt base
    # (new id) means the cached python image was built on another base.
    ensure_image "$PY_IMAGE" python-3.11-bookworm \
        "$(python_dockerfile) base=$(docker image inspect -f '{{.Id}}' "$BASE_IMAGE")" build_python_image
    flock -u 9
}

# ---------------------------------------------------------------------------- main
case $ACTION in
start)
    choose_engine
    ensure_engine
    ensure_images
    log "done: $(docker images --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep '^local/' | tr '\n' ';')"
    [ -z "$DOCKERD_ROOT" ] || log "engine: DOCKER_HOST=$DOCKER_HOST (callers must use it)"
    printf 'export DOCKER_HOST=%q\n' "$DOCKER_HOST"
    ;;
stop)
    stop_engine
    if [ -z "$DOCKERD_ROOT" ] && [ -f "$FALLBACK_ROOT/launcher.pid" ]; then
        use_private_root "$FALLBACK_ROOT"
        stop_engine
    fi
    ;;
where)
    choose_engine
    echo "$CHOSEN"
    printf 'export DOCKER_HOST=%q\n' "$DOCKER_HOST"
    ;;
status)
    if [ -n "$CALLER_DOCKER_HOST" ]; then
        export DOCKER_HOST=$CALLER_DOCKER_HOST
    elif ! engine_up && answers_at "unix://$FALLBACK_ROOT/docker.sock"; then
        use_private_root "$FALLBACK_ROOT"
    fi
    echo "DOCKER_HOST=$DOCKER_HOST"
    if engine_up; then
        echo "engine: up ($(docker info --format '{{.ServerVersion}}, storage {{.Driver}}'))"
        docker images --format '{{.Repository}}:{{.Tag}}  {{.Size}}' | grep '^local/' || true
    else
        echo "engine: down"
        exit 1
    fi
    ;;
*)
    die "unknown action '$ACTION' (use start, stop, status or where)"
    ;;
esac
