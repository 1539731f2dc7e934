#!/usr/bin/perl
# Prints the statements of the given SQL sources that every upgrade script
# repeats (TimescaleDB's habit): functions, procedures and views, written
# CREATE OR REPLACE, and what must follow them again because replacing them
# resets it -- COMMENT ON, GRANT, REVOKE, ALTER FUNCTION, ALTER VIEW and DO
# blocks (which must therefore be idempotent).  Everything else (tables,
# indexes, types, operators, triggers, policies, data) runs once, on a fresh
# install; its change goes in the hand-written change file of the delta.
#
# A plain CREATE FUNCTION or CREATE VIEW is refused: it would run on a fresh
# install and silently never reach an upgraded one.
use strict;
use warnings;

my $replaceable = qr/^(CREATE\s+OR\s+REPLACE\s+(FUNCTION|PROCEDURE|VIEW)|COMMENT\s+ON|GRANT|REVOKE|ALTER\s+(FUNCTION|VIEW|PROCEDURE)|DO)\b/i;
my $status = 0;

for my $file (@ARGV) {
	open(my $fh, '<', $file) or die "$file: $!\n";
	my ($stmt, $start, $quote, $atomic, @comments) = ('', 0, undef, 0);
	print "\n-- $file\n";
	while (my $line = <$fh>) {
		if ($stmt eq '') {
			# between statements: keep a comment block for the statement it heads
			if ($line =~ /^\s*(--|$)/) {
				@comments = () if $line =~ /^\s*$/;
				push @comments, $line if $line =~ /^\s*--/;
				next;
			}
			$start = $.;
			if ($line =~ /^CREATE\s+(FUNCTION|PROCEDURE|VIEW)\b/i) {
				print STDERR "$file:$.: write CREATE OR REPLACE $1, so that upgrades carry it\n";
				$status = 1;
			}
		}
		$stmt .= $line;
		# dollar quotes: $$ or $tag$ open and close bodies
		while ($line =~ /(\$[A-Za-z_]*\$)/g) {
			if (!defined $quote) { $quote = $1; }
			elsif ($quote eq $1) { $quote = undef; }
		}
		next if defined $quote;
		$atomic = 1 if $line =~ /^\s*BEGIN\s+ATOMIC\s*$/i;
		my $ends = $atomic ? $line =~ /^END;\s*(--.*)?$/ : $line =~ /;\s*(--.*)?$/;
		next unless $ends;
		print "\n", @comments, $stmt if $stmt =~ $replaceable;
		($stmt, $atomic, @comments) = ('', 0);
	}
	if ($stmt ne '') {
		print STDERR "$file:$start: statement not terminated\n";
		$status = 1;
	}
	close($fh);
}
exit $status;
