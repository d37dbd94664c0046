#!/usr/bin/perl
# Runs inside a VM: stat(2) of PATH with an alarm set to fire after ALARM seconds and a handler
# installed (what a monitor that wants to go on must do). Prints when the handler ran and when
# stat returned, with its result. On a hard NFS mount of a frozen server the handler cannot run
# until stat returns: the wait is killable only (TASK_KILLABLE), and SIGALRM with a handler is
# not a fatal signal.
use strict;
use warnings;
use Time::HiRes qw(time alarm);
$| = 1;
my ($path, $secs) = @ARGV;
my $t0 = time;
$SIG{ALRM} = sub { printf "alarm handler ran at %.1f s\n", time - $t0 };
alarm $secs;
my @st = stat($path);
my $err = $!;
printf "stat returned after %.1f s: %s\n", time - $t0, @st ? 'ok' : "error: $err";
