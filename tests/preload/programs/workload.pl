# SPDX-License-Identifier: MIT
#
# workload.pl - a deterministic text-processing Perl run for
# tests/preload-programs.sh: a few MB of seeded text built in memory
# (strings grown by .= pass through page-sized reallocs into the C
# library's range), a word-frequency hash, regex substitutions, splits,
# sorts and joins.  Prints counts, the top words and MD5 digests only.

use strict;
use warnings;
use Digest::MD5 qw(md5_hex);

srand(424242);

my @syl = qw(ka lo mi nu pe ra si to vu xe ban cor dil fen gor hut jin
	     kel mor nap qui rst sel tam ung ver wox yal zed ing er);

# A vocabulary of 20000 words, Zipf-like use: low indexes are common.
my @vocab;
for my $i (0 .. 19999) {
	my $w = '';
	$w .= $syl[int(rand(@syl))] for 1 .. 1 + int(rand(4));
	push @vocab, $w;
}

my $text = '';
my $nlines = 0;
while (length($text) < 4_000_000) {
	my @line;
	for (1 .. 6 + int(rand(10))) {
		my $r = rand();
		push @line, $vocab[int($r * $r * $r * @vocab)];
	}
	$line[0] = ucfirst $line[0];
	$text .= join(' ', @line) . (rand() < 0.2 ? ".\n" : ",\n");
	$nlines++;
}
printf "text: %d bytes, %d lines, md5 %s\n", length($text), $nlines, md5_hex($text);

# Word frequencies.
my %freq;
$freq{lc $1}++ while $text =~ /(\w+)/g;
my @top = sort { $freq{$b} <=> $freq{$a} || $a cmp $b } keys %freq;
printf "words: %d distinct\n", scalar(@top);
printf "  %-16s %d\n", $_, $freq{$_} for @top[0 .. 14];

# Substitutions over the whole text: counts and the result's digest.
(my $t2 = $text) =~ s/(\w+)ing\b/$1ed/g;
my $n_ing = () = $text =~ /\w+ing\b/g;
my $n_caps = ($t2 =~ s/\b([A-Z])(\w*)/\l$1\U$2/g);
$t2 =~ tr/aeiou/AEIOU/;
printf "subst: %d -ing words, %d capitalised, md5 %s\n", $n_ing, $n_caps, md5_hex($t2);

# Split into lines, sort them, de-duplicate, join back.
my @lines = split /\n/, $t2;
my %seen;
my @uniq = grep { !$seen{$_}++ } sort @lines;
my $joined = join("\n", reverse @uniq);
printf "lines: %d, %d unique, longest %d, md5 %s\n", scalar(@lines), scalar(@uniq),
	(sort { $b <=> $a } map { length } @uniq)[0], md5_hex($joined);

# Bigrams in a hash of hashes, and a packed binary buffer.
my %bi;
my @w = map { lc } ($text =~ /(\w+)/g);
$bi{$w[$_]}{$w[$_ + 1]}++ for 0 .. $#w - 1;
my ($bw, $bn) = ('', 0);
for my $x (sort keys %bi) {
	for my $y (sort keys %{$bi{$x}}) {
		($bw, $bn) = ("$x $y", $bi{$x}{$y}) if $bi{$x}{$y} > $bn;
	}
}
my $packed = pack('N*', map { $freq{$_} } @top);
printf "bigrams: %d first words, top '%s' x %d, packed md5 %s\n", scalar(keys %bi), $bw, $bn,
	md5_hex($packed);
exit 0;
