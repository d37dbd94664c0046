#!/bin/bash
# Runs inside the systemd-nspawn container that test/integration/systemd-unit.test.ts boots
# (as vigil-systemd-test.service, once systemd is up): installs the .deb found in /vigil-deb,
# drives vigild.service under the container's real systemd, and writes what it saw as KEY=VALUE
# lines to /vigil-out/results (plus logs beside it) for the test to judge. Powers the
# container off when done, whatever happened.
set -u
out=/vigil-out
exec >"$out/script.log" 2>&1
trap 'systemctl poweroff --no-block' EXIT
r() { printf '%s=%s\n' "$1" "$2" >>"$out/results"; }
show() { systemctl show -p "$1" --value vigild; }
# Polls a condition once a second for up to $1 seconds.
within() {
  local n=$1; shift
  for _ in $(seq "$n"); do "$@" && return 0; sleep 1; done
  return 1
}
set -x

r booted "$(systemctl is-system-running)"
dpkg -i /vigil-deb/*.deb; r dpkg_install $?
r enabled_after_install "$(systemctl is-enabled vigild 2>&1)"
r active_after_install "$(systemctl is-active vigild 2>&1)"

# A good configuration: vigild starts and stays up.
/usr/sbin/vigil keygen; r keygen $?
printf 'VIGIL_NODE_NAME=nspawn1\n' >/etc/default/vigil
chmod 600 /etc/default/vigil
systemctl start vigild; r start_good $?
ready() { journalctl -u vigild --no-pager -o cat | grep -q 'vigild ready'; }
within 120 ready; r ready $?
r active_good "$(systemctl is-active vigild)"
pid=$(show MainPID)
r main_exe "$(readlink "/proc/$pid/exe")"
/usr/sbin/vigil sys_list >"$out/sys_list.txt" 2>&1; r cli_sys_list $?
r sys_list "$(tr '\n' ' ' <"$out/sys_list.txt")"
systemd-analyze security --no-pager vigild >"$out/security.txt" 2>&1; r analyze_security $?
r exposure "$(grep -o 'Overall exposure level for vigild.service: .*' "$out/security.txt")"
systemctl stop vigild; r stop_good $?
r result_good "$(show Result)"

# A bad configuration: vigild exits 78 and systemd does not restart it (RestartPreventExitStatus).
printf 'VIGIL_NODE_NAME=nspawn1\nVIGIL_HALT_ACTION=explode\n' >/etc/default/vigil
systemctl start vigild; r start_bad $?
failed() { [ "$(show ActiveState)" = failed ]; }
within 60 failed; r failed_bad $?
# No restart can be seen only by waiting: RestartSec=5, so a restart loop would have made at
# least two attempts in 12 s.
sleep 12
r state_bad "$(show ActiveState)"
r result_bad "$(show Result)"
r status_bad "$(show ExecMainStatus)"
r restarts_bad "$(show NRestarts)"
journalctl -u vigild --no-pager -o cat >"$out/journal.txt" 2>&1
r starts_logged "$(grep -c 'Started vigild.service\|Started Vigil' "$out/journal.txt")"
grep -q 'VIGIL_HALT_ACTION' "$out/journal.txt"; r journal_names_key $?
r done 1
