/* SPDX-License-Identifier: MIT */
/*
 * threads-table.c - pagepool-bench's threads table: per (backend, thread
 * count) the median over the processes of each column separately, from the
 * children's H lines (threads.c); the ratios to jemalloc at the same thread
 * count, the notes and the CSV (--threads-csv).
 */
#include "config.h"

#include <string.h>

#include "bench.h"

/* An H line's numbers after the backend: T, rounds, pages/s, baseline, points. */
enum th_col { TC_T, TC_ROUNDS, TC_PPS, TC_BASE,
	      TC_RSS0, TC_COMMIT0, TC_CACHED0, TC_FREE0, TC_RECL0,
	      TC_RSS1, TC_COMMIT1, TC_CACHED1, TC_FREE1, TC_RECL1,
	      TC_RSS2, TC_COMMIT2, TC_CACHED2, TC_FREE2, TC_RECL2, NR_TC };
#define PT_COLS 5	/* columns per point: rss, committed, cached, free, reclaimed */

struct th_row {
	double v[NR_TC][MAX_RUNS];
	int nv;
};

static struct th_row th_rows[NR_BK][NR_THREADS_POINTS];

static int point_of(unsigned t)
{
	for (int i = 0; i < NR_THREADS_POINTS; i++)
		if (threads_points[i] == t)
			return i;
	return -1;
}

int collect_threads(enum backend bk, const char *line)
{
	double x[NR_TC];
	char name[32];
	int off = 0, n = 0, pi;
	const char *p;
	struct th_row *r;

	if (sscanf(line, "H %31s %n", name, &off) != 1 || off <= 0)
		return 0;
	for (p = line + off; n < NR_TC; n++) {
		int used = 0;

		if (sscanf(p, "%lf%n", &x[n], &used) != 1)
			break;
		p += used;
	}
	pi = n == NR_TC ? point_of((unsigned)x[TC_T]) : -1;
	if (strcmp(name, bks[bk].name) || pi < 0 || !(x[TC_PPS] > 0) ||
	    th_rows[bk][pi].nv >= MAX_RUNS) {
		fprintf(stderr, "pagepool-bench: %s: bad result line '%s'\n", bks[bk].name, line);
		return -1;
	}
	r = &th_rows[bk][pi];
	for (int k = 0; k < NR_TC; k++)
		r->v[k][r->nv] = x[k];
	r->nv++;
	return 1;
}

static double med(const struct th_row *r, enum th_col c)
{
	return r->nv ? median(r->v[c], r->nv) : 0;
}

/* MiB from KiB, or pages; "-" for a column the backend does not have. */
static const char *mib(char *buf, size_t len, double v, double unit_bytes)
{
	if (v < 0)
		snprintf(buf, len, "-");
	else
		snprintf(buf, len, "%.1f", v * unit_bytes / 1048576.0);
	return buf;
}

void print_threads_table(const struct pb_opts *o, FILE *csv, bool command)
{
	const struct sizes *sz = o->b.quick ? &quick_sizes : &full_sizes;
	double ps = (double)bench_page_size(0);
	int runs = workload_runs(o, WL_THREADS);
	bool any = false;

	printf("%sthreads: T threads, %u bursts each of %d pages allocated (one call "
	       "each, every page written) and freed, then idle (median of %d processes "
	       "per backend and T, each column separately)\n\n",
	       command ? "" : "\n", sz->threads_rounds, THREADS_BURST, runs);
	md_head("lrrrrrrrrrrr", "backend | T | Mpages/s | x jemalloc | RSS MiB: base | idle | "
		"decay | decay2 | x jemalloc (decay) | committed MiB idle / decay / decay2 | "
		"cached MiB idle / decay / decay2 | free MiB idle / decay / decay2");
	for (int b = 0; b < NR_BK; b++)
		for (int i = 0; i < NR_THREADS_POINTS; i++) {
			const struct th_row *r = &th_rows[b][i], *je = &th_rows[BK_JE][i];
			char tx[32], rx[32], nruns[32] = "", m[12][16];
			double v[NR_TC];

			if (!r->nv)
				continue;
			any = true;
			for (int k = 0; k < NR_TC; k++)
				v[k] = med(r, (enum th_col)k);
			fmt_ratio(tx, sizeof(tx), v[TC_PPS], med(je, TC_PPS));
			fmt_ratio(rx, sizeof(rx), v[TC_RSS1], med(je, TC_RSS1));
			if (r->nv != runs)
				snprintf(nruns, sizeof(nruns), " (%d of %d runs)", r->nv, runs);
			for (int p = 0; p < 3; p++) {
				mib(m[p], 16, v[TC_RSS0 + p * PT_COLS], 1024);
				mib(m[3 + p], 16, v[TC_COMMIT0 + p * PT_COLS], ps);
				mib(m[6 + p], 16, v[TC_CACHED0 + p * PT_COLS], ps);
				mib(m[9 + p], 16, v[TC_FREE0 + p * PT_COLS], ps);
			}
			printf("| %s%s | %u | %.2f | %s | %.1f | %s | %s | %s | %s | %s / %s / %s "
			       "| %s / %s / %s | %s / %s / %s |\n", bks[b].name, nruns,
			       threads_points[i], v[TC_PPS] / 1e6, tx, v[TC_BASE] / 1024, m[0], m[1],
			       m[2], rx, m[3], m[4], m[5], m[6], m[7], m[8], m[9], m[10], m[11]);
			if (csv) {
				fprintf(csv, "%s,%u,%u,%.0f,%s,%.1f", bks[b].name, threads_points[i],
					(unsigned)v[TC_ROUNDS], v[TC_PPS], tx, v[TC_BASE] / 1024);
				for (int p = 0; p < 3; p++)
					fprintf(csv, ",%.1f", v[TC_RSS0 + p * PT_COLS] / 1024);
				fprintf(csv, ",%s", rx);
				for (int p = 0; p < 3; p++)
					for (int k = 1; k < PT_COLS; k++) {
						double x = v[TC_RSS0 + p * PT_COLS + k];

						if (x < 0)
							fprintf(csv, ",-");
						else
							fprintf(csv, ",%.1f", x * ps / 1048576.0);
					}
				fprintf(csv, ",%d,%.1f,%.1f,%.0f,%.0f\n", r->nv,
					min_of(r->v[TC_RSS1], r->nv) / 1024,
					max_of(r->v[TC_RSS1], r->nv) / 1024,
					min_of(r->v[TC_PPS], r->nv), max_of(r->v[TC_PPS], r->nv));
			}
		}
	if (!any)
		printf("| (no results) | | | | | | | | | | | |\n");
	printf("\n");
	if (command) {
		printf("median of %d processes per backend and T; command: ", runs);
		print_command(stdout, o->b.argc, o->b.argv);
		printf("\n\n");
	}
	printf("A process per backend and T; the T threads start together at a barrier; "
	       "Mpages/s = T x %u x %d pages over the burst phase (barrier to the last "
	       "thread's last free); x jemalloc: pages/s over jemalloc's at the same T "
	       "(above 1: faster).\n", sz->threads_rounds, THREADS_BURST);
	printf("RSS = VmRSS of the process, threads alive and blocked: base = before the "
	       "threads are created; idle = when every thread has finished; decay = after "
	       "sleeping %lu ms (reclaim_ms + 100) and one page allocated and freed on the "
	       "main thread (pagepool: pp_alloc_page(0) from an empty cache, the slow path "
	       "that takes back caches idle for reclaim_ms, then pp_thread_drain()); decay2 "
	       "= the same once more.  x jemalloc (decay): the row's RSS over jemalloc's at "
	       "the decay point (below 1: smaller).\n", threads_idle_ms + 100);
	printf("committed, cached (in thread caches) and free (on the global lists): "
	       "pagepool's pp_stats() at each point; - for the other allocators.\n");
}
