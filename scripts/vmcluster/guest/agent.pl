#!/usr/bin/perl
# Guest agent: JSON lines over the virtio-serial port given as $ARGV[0]. Perl, not Node: under TCG
# a cold `node` takes 5-7 s to start (translating V8's start-up code), which alone broke the 10 s
# boot budget; perl starts in a fraction of that and is on every Debian host (perl-base; JSON::PP
# comes with perl-modules). One select() loop serves every request, so a long exec never delays
# a ping.
# Requests: {id, op, ...}; replies: {id, ok:true, result} | {id, ok:false, error}.
#   ping                      -> {uptimeMs, ready}   (ready: stage-2 init finished)
#   exec {argv|sh, timeoutMs, inputB64, env, cwd} -> {code, signal, stdoutB64, stderrB64, timedOut, durationMs}
#   spawn {argv|sh, env, cwd, log}                -> {pid, log}  (output appended to log)
#   kill {pid, signal, group}                     -> {sent}      (the process group unless group: false)
#   procs                                         -> [{pid, argv, log, exited, code, signal}]
#   read {path}                                   -> {dataB64}
#   write {path, dataB64, mode}                   -> {}
use strict;
use warnings;
use Config;
use Errno qw(EAGAIN EINTR);
use Fcntl qw(F_GETFL F_SETFL O_NONBLOCK O_RDWR O_WRONLY O_CREAT O_APPEND O_TRUNC);
use JSON::PP ();
use MIME::Base64 qw(encode_base64 decode_base64);
use POSIX qw(setsid WNOHANG _exit);
use Time::HiRes qw(time);

my $json = JSON::PP->new->ascii->allow_nonref;
my %signame;
@signame{ split ' ', $Config{sig_num} } = map { "SIG$_" } split ' ', $Config{sig_name};

sysopen(my $port, $ARGV[0], O_RDWR) or die "open $ARGV[0]: $!";
nonblocking($port);
# Boot-time breakdown: when the agent could open its port (guest uptime), next to stage 2's stamps.
if (open(my $bl, '>>', '/var/log/vmc/boot.log')) { print $bl uptime_s(), " agent-up\n"; close $bl }

my $in = '';           # bytes read from the port, not yet a whole line
my $out = '';          # replies not yet written to the port
my $portRetryAt = 0;   # the host end is not connected: read again at this time
my %execs;             # pid -> exec job
my %spawned;           # pid -> spawn entry (kept for procs)
my @spawnOrder;
$SIG{CHLD} = sub { };  # only to interrupt select() when a child ends
$SIG{PIPE} = 'IGNORE';

sub uptime_s { open(my $u, '<', '/proc/uptime') or return 0; my $l = <$u>; return (split ' ', $l)[0] }
sub nonblocking { my $fh = shift; my $f = fcntl($fh, F_GETFL, 0); fcntl($fh, F_SETFL, $f | O_NONBLOCK) }
sub send_msg { $out .= $json->encode($_[0]) . "\n" }
sub reply_ok { send_msg({ id => $_[0], ok => JSON::PP::true, result => $_[1] }) }
sub reply_err { send_msg({ id => $_[0], ok => JSON::PP::false, error => $_[1] }) }

sub command_of {
  my $req = shift;
  return @{ $req->{argv} } if ref $req->{argv} eq 'ARRAY' && @{ $req->{argv} };
  return ('/bin/sh', '-c', $req->{sh}) if defined $req->{sh} && !ref $req->{sh};
  die "request needs argv or sh\n";
}

# fork + setsid + exec; the child's exec error comes back over a close-on-exec pipe, so a missing
# program is an error reply rather than an exit code.
sub start_child {
  my ($req, $argv, $setup) = @_;
  no warnings 'exec';  # the statement after exec runs exactly when exec failed
  pipe(my $errR, my $errW) or die "pipe: $!\n";
  my $pid = fork();
  die "fork: $!\n" unless defined $pid;
  if ($pid == 0) {
    close $errR;
    setsid();
    $SIG{CHLD} = 'DEFAULT';
    $SIG{PIPE} = 'DEFAULT';
    my $env = ref $req->{env} eq 'HASH' ? $req->{env} : {};
    $ENV{$_} = $env->{$_} for keys %$env;
    eval { $setup->(); chdir($req->{cwd} // '/') or die "chdir $req->{cwd}: $!\n"; 1 }
      and do { exec { $argv->[0] } @$argv; $@ = "spawn $argv->[0] failed: $!\n" };
    syswrite($errW, $@);
    _exit(127);
  }
  close $errW;
  my $err = '';
  1 while sysread($errR, $err, 4096, length $err);
  close $errR;
  if ($err ne '') { waitpid($pid, 0); chomp $err; die "$err\n" }
  return $pid;
}

sub do_exec {
  my $req = shift;
  my @argv = command_of($req);
  pipe(my $inR, my $inW) or die "pipe: $!\n";
  pipe(my $outR, my $outW) or die "pipe: $!\n";
  pipe(my $errR, my $errW) or die "pipe: $!\n";
  my $pid = start_child($req, \@argv, sub {
    open(STDIN, '<&', $inR) or die "dup stdin: $!\n";
    open(STDOUT, '>&', $outW) or die "dup stdout: $!\n";
    open(STDERR, '>&', $errW) or die "dup stderr: $!\n";
    close $_ for $inW, $outR, $errR;
  });
  close $_ for $inR, $outW, $errW;
  nonblocking($_) for $inW, $outR, $errR;
  my $input = defined $req->{inputB64} ? decode_base64($req->{inputB64}) : '';
  if ($input eq '') { close $inW; undef $inW }
  $execs{$pid} = {
    id => $req->{id}, pid => $pid, started => time, input => $input, stdin => $inW,
    pipes => { out => $outR, err => $errR }, data => { out => '', err => '' },
    deadline => $req->{timeoutMs} ? time + $req->{timeoutMs} / 1000 : undef, timedOut => 0,
  };
  return undef;  # answered when the child ends and its output is drained
}

sub do_spawn {
  my $req = shift;
  my @argv = command_of($req);
  my $log = $req->{log} // sprintf('/var/log/vmc/spawn-%d.log', int(time * 1000));
  my $pid = start_child($req, \@argv, sub {
    open(STDIN, '<', '/dev/null') or die "open /dev/null: $!\n";
    open(STDOUT, '>>', $log) or die "open $log: $!\n";
    open(STDERR, '>&', \*STDOUT) or die "dup stderr: $!\n";
  });
  $spawned{$pid} = { pid => $pid + 0, argv => \@argv, log => $log, exited => JSON::PP::false, code => undef, signal => undef };
  push @spawnOrder, $pid;
  return { pid => $pid + 0, log => $log };
}

sub handle {
  my $req = shift;
  my $op = $req->{op} // '';
  if ($op eq 'ping') {
    return { uptimeMs => int(uptime_s() * 1000 + 0.5), ready => (-e '/run/vmc-ready' ? JSON::PP::true : JSON::PP::false) };
  }
  return do_exec($req) if $op eq 'exec';
  return do_spawn($req) if $op eq 'spawn';
  if ($op eq 'kill') {
    my $sig = $req->{signal} // 'SIGTERM';
    (my $name = $sig) =~ s/^SIG//;
    my $target = (defined $req->{group} && !$req->{group}) ? $req->{pid} : -$req->{pid};
    kill($name, $target) or die "kill $target $sig: $!\n";
    return { sent => $sig };
  }
  if ($op eq 'procs') { return [ map { $spawned{$_} } @spawnOrder ] }
  if ($op eq 'read') {
    open(my $f, '<:raw', $req->{path}) or die "open $req->{path}: $!\n";
    local $/;
    my $data = <$f> // '';
    return { dataB64 => encode_base64($data, '') };
  }
  if ($op eq 'write') {
    my $mode = $req->{mode} // 0644;
    sysopen(my $f, $req->{path}, O_WRONLY | O_CREAT | O_TRUNC, $mode) or die "open $req->{path}: $!\n";
    binmode $f;
    print $f decode_base64($req->{dataB64} // '') or die "write $req->{path}: $!\n";
    close $f or die "close $req->{path}: $!\n";
    chmod($mode, $req->{path}) if defined $req->{mode};
    return {};
  }
  die "unknown op $op\n";
}

# JSON strings decode to characters; the kernel wants bytes: give every string back its UTF-8 form.
sub to_bytes {
  my $v = shift;
  if (ref $v eq 'HASH') { $v->{$_} = to_bytes($v->{$_}) for keys %$v; return $v }
  if (ref $v eq 'ARRAY') { $_ = to_bytes($_) for @$v; return $v }
  utf8::encode($v) if defined $v && !ref $v && utf8::is_utf8($v);
  return $v;
}

sub on_line {
  my $line = shift;
  return unless $line =~ /\S/;
  my $req = eval { to_bytes($json->decode($line)) };
  return send_msg({ id => undef, ok => JSON::PP::false, error => 'bad json' }) unless ref $req eq 'HASH';
  my $result = eval { handle($req) };
  if ($@) { (my $e = $@) =~ s/\s+$//; return reply_err($req->{id}, $e) }
  reply_ok($req->{id}, $result) unless ($req->{op} // '') eq 'exec';
}

sub finish_exec {
  my $job = shift;
  my $st = $job->{status};
  my ($code, $signal) = ($st & 127) ? (undef, $signame{ $st & 127 } // ('SIG' . ($st & 127))) : ($st >> 8, undef);
  reply_ok($job->{id}, {
    code => $code, signal => $signal, timedOut => $job->{timedOut} ? JSON::PP::true : JSON::PP::false,
    durationMs => int((time - $job->{started}) * 1000 + 0.5),
    stdoutB64 => encode_base64($job->{data}{out}, ''), stderrB64 => encode_base64($job->{data}{err}, ''),
  });
  delete $execs{ $job->{pid} };
}

send_msg({ event => 'hello' });
for (;;) {
  my $now = time;
  my ($rin, $win) = ('', '');
  my %byFd;
  my $watch = sub { my ($set, $fh) = @_; vec($$set, fileno($fh), 1) = 1; $byFd{ fileno($fh) } = $fh };
  $watch->(\$rin, $port) if $now >= $portRetryAt;
  $watch->(\$win, $port) if $out ne '' && $now >= $portRetryAt;
  my $timeout = 1;
  for my $job (values %execs) {
    $watch->(\$rin, $_) for values %{ $job->{pipes} };
    $watch->(\$win, $job->{stdin}) if $job->{stdin};
    if ($job->{deadline} && !$job->{timedOut}) { my $left = $job->{deadline} - $now; $timeout = $left if $left < $timeout }
  }
  $timeout = $portRetryAt - $now if $portRetryAt > $now && $portRetryAt - $now < $timeout;
  $timeout = 0 if $timeout < 0;
  my ($rout, $wout) = ($rin, $win);
  my $n = select($rout, $wout, undef, $timeout);
  if ($n > 0) {
    if (vec($rout, fileno($port), 1)) {
      my $got = sysread($port, $in, 65536, length $in);
      if (defined $got && $got > 0) {
        while ((my $nl = index($in, "\n")) >= 0) { my $line = substr($in, 0, $nl + 1, ''); on_line($line) }
      } elsif (!defined $got && ($! == EAGAIN || $! == EINTR)) {
      } else {
        $portRetryAt = time + 0.1;  # 0 bytes: the host end is not connected (yet, or any more)
      }
    }
    if ($out ne '' && vec($wout, fileno($port), 1)) {
      my $w = syswrite($port, $out);
      if (defined $w) { substr($out, 0, $w, '') } elsif ($! != EAGAIN && $! != EINTR) { $portRetryAt = time + 0.1 }
    }
    for my $job (values %execs) {
      for my $k (keys %{ $job->{pipes} }) {
        my $fh = $job->{pipes}{$k};
        next unless vec($rout, fileno($fh), 1);
        my $got = sysread($fh, $job->{data}{$k}, 65536, length $job->{data}{$k});
        next if !defined $got && ($! == EAGAIN || $! == EINTR);
        if (!$got) { close $fh; delete $job->{pipes}{$k} }
      }
      if ($job->{stdin} && vec($wout, fileno($job->{stdin}), 1)) {
        my $w = syswrite($job->{stdin}, $job->{input});
        if (defined $w) { substr($job->{input}, 0, $w, '') }
        if ((!defined $w && $! != EAGAIN && $! != EINTR) || $job->{input} eq '') { close $job->{stdin}; delete $job->{stdin} }
      }
    }
  }
  while ((my $pid = waitpid(-1, WNOHANG)) > 0) {
    my $st = $?;
    if (my $job = $execs{$pid}) { $job->{status} = $st }
    if (my $e = $spawned{$pid}) {
      $e->{exited} = JSON::PP::true;
      if ($st & 127) { $e->{signal} = $signame{ $st & 127 } } else { $e->{code} = $st >> 8 }
    }
  }
  $now = time;
  for my $job (values %execs) {
    if ($job->{deadline} && !$job->{timedOut} && $now >= $job->{deadline}) {
      $job->{timedOut} = 1;
      kill('KILL', -$job->{pid});
    }
    finish_exec($job) if defined $job->{status} && !%{ $job->{pipes} };
  }
}
