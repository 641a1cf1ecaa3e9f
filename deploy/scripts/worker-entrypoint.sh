#!/usr/bin/env bash
# worker-entrypoint.sh: the worker pod of a serving group (LeaderWorkerSet worker, index >= 1).
#
# Runs an unprivileged sshd in the foreground and nothing else: the leader's mpirun logs in
# through it and starts this pod's worker ranks (orted, then moe-serve ranks). The pod lives as
# long as sshd does; the leader decides when the job ends.
#
#   worker-entrypoint.sh [--check]     --check: write the sshd config, test it (sshd -t), exit
#
# Environment (the defaults match the container image and deploy/k8s):
#   MOE_SSHD_PORT            port to listen on (default 2222; unprivileged)
#   MOE_SSHD_LISTEN          address to listen on (default 0.0.0.0)
#   MOE_SSH_AUTHORIZED_KEYS  public keys allowed to log in (default
#                            /etc/moe/ssh/authorized_keys, a Secret mount); required
#   MOE_SSH_HOST_KEY         host private key (e.g. from a Secret, so that the leader can pin it
#                            with known_hosts); default: a fresh ed25519 key at each start
#   MOE_SSH_STATE_DIR        writable directory for the config and key copies (default
#                            /run/moe/sshd; an emptyDir in the pod)
#   MOE_SSHD_BIN             sshd binary (default /usr/sbin/sshd)
#
# Security: public-key authentication only, for the user this script runs as; no passwords, no
# forwarding, no PAM, no root login (except when run as root, which only the CI rehearsal does).
# StrictModes is off because the state directory lives on an emptyDir (mode 0777 mount point)
# that only this container can see; the key copies themselves are mode 0600.
set -euo pipefail

log() { echo "worker-entrypoint: $*" >&2; }
die() {
  log "error: $*"
  exit 1
}

check_only=0
case "${1:-}" in
  --check) check_only=1 ;;
  "") ;;
  *) die "unknown argument '$1' (usage: worker-entrypoint.sh [--check])" ;;
esac

port="${MOE_SSHD_PORT:-2222}"
listen="${MOE_SSHD_LISTEN:-0.0.0.0}"
authorized_keys="${MOE_SSH_AUTHORIZED_KEYS:-/etc/moe/ssh/authorized_keys}"
host_key="${MOE_SSH_HOST_KEY:-}"
state="${MOE_SSH_STATE_DIR:-/run/moe/sshd}"
sshd="${MOE_SSHD_BIN:-/usr/sbin/sshd}"

[[ "$port" =~ ^[0-9]+$ ]] || die "MOE_SSHD_PORT must be a number, got '$port'"
[ -x "$sshd" ] || die "no sshd at $sshd (set MOE_SSHD_BIN)"
[ -r "$authorized_keys" ] || die "cannot read authorized keys $authorized_keys (mount the ssh Secret)"
grep -q '^[^#]' "$authorized_keys" || die "$authorized_keys holds no key"
user="$(id -un 2>/dev/null)" || die "uid $(id -u) has no passwd entry (run as the image's user, uid 1000)"

umask 077
mkdir -p "$state"
chmod 700 "$state"

# Host key: the given one, or a fresh one (the leader then cannot pin it: see deploy/README.md).
if [ -n "$host_key" ]; then
  [ -r "$host_key" ] || die "cannot read host key $host_key"
  install -m 600 "$host_key" "$state/ssh_host_key"
else
  rm -f "$state/ssh_host_key" "$state/ssh_host_key.pub"
  ssh-keygen -q -t ed25519 -N '' -C "$(hostname)" -f "$state/ssh_host_key"
fi
install -m 600 "$authorized_keys" "$state/authorized_keys"

root_login=no
[ "$(id -u)" -eq 0 ] && root_login=prohibit-password

cat >"$state/sshd_config" <<EOF
# Written by worker-entrypoint.sh; see there.
Port $port
ListenAddress $listen
HostKey $state/ssh_host_key
PidFile none
AuthorizedKeysFile $state/authorized_keys
AllowUsers $user
PermitRootLogin $root_login
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
HostbasedAuthentication no
UsePAM no
StrictModes no
PermitUserEnvironment no
AllowTcpForwarding no
AllowAgentForwarding no
AllowStreamLocalForwarding no
GatewayPorts no
PermitTunnel no
X11Forwarding no
PrintMotd no
UseDNS no
# mpirun opens one session per pod at once; a dead leader is noticed within a minute.
MaxStartups 64:30:256
ClientAliveInterval 15
ClientAliveCountMax 4
LogLevel INFO
EOF

"$sshd" -t -f "$state/sshd_config" || die "sshd rejected $state/sshd_config"
if [ "$check_only" -eq 1 ]; then
  log "config ok: $state/sshd_config"
  exit 0
fi
log "sshd for user $user on $listen:$port"
exec "$sshd" -D -e -f "$state/sshd_config"
