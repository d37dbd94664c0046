#!/usr/bin/perl
# Runs inside a VM: sends one admin request line (read from stdin) to vigild's admin socket and
# prints the reply line. The harness polls states and events many times per test; the vigil CLI
# costs about 2 s of guest CPU per call under TCG (node start plus its modules) and so slows the
# very agent being measured, while perl starts in a fraction of that. Same socket, same request
# and reply as the CLI (src/admin/protocol.ts); the CLI itself is still exercised by every test
# that runs a command through GuestVigil.vigil().
use strict;
use warnings;
use IO::Socket::UNIX;
my ($path, $secs) = @ARGV;
my $req = <STDIN>;
defined $req or die "no request on stdin\n";
$SIG{ALRM} = sub { die "no reply from vigild at $path within $secs s\n" };
alarm $secs;
my $sock = IO::Socket::UNIX->new(Type => SOCK_STREAM(), Peer => $path) or die "cannot reach vigild at $path: $!\n";
print $sock $req;
$sock->flush;
my $reply = <$sock>;
defined $reply or die "vigild closed the connection without replying ($path)\n";
print $reply;
