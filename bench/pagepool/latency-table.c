/* SPDX-License-Identifier: MIT */
/*
 * latency-table.c - pagepool-bench's latency table: per (backend, op) the
 * median over the processes of each column separately, from the
 * children's L lines; the timer's cost (T lines) and the churn thread's
 * rate (C lines) in its notes; the CSV of --latency-csv.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "latency.h"

/* The latency table: per (backend, op), each column's values over the runs. */
enum lat_stat { LS_CALLS, LS_P50, LS_P99, LS_P999, LS_P9999, LS_MAX, LS_OVER, LS_NULLS,
		NR_LS };

struct lat_row {
	enum backend bk;
	enum lat_op op;
	double v[NR_LS][MAX_RUNS];
	int nv;
};

#define LROW(b, o) { .bk = (b), .op = (o) }
static struct lat_row lat_rows[] = {
	LROW(BK_NONE, OP_EMPTY),
	LROW(BK_PP, OP_TRY), LROW(BK_PP, OP_NOWAIT), LROW(BK_PP, OP_ALLOC0), LROW(BK_PP, OP_FREE),
	LROW(BK_JE, OP_ALLOC), LROW(BK_JE, OP_FREE), LROW(BK_GLIBC, OP_ALLOC),
	LROW(BK_GLIBC, OP_FREE), LROW(BK_MI, OP_ALLOC), LROW(BK_MI, OP_FREE),
	LROW(BK_TC, OP_ALLOC), LROW(BK_TC, OP_FREE),
};
#define NR_LAT_ROWS (sizeof(lat_rows) / sizeof(lat_rows[0]))

/* T lines: the timer's cost per process, median, least and p99. */
static double timer_v[NR_BK * MAX_RUNS], timer_min_v[NR_BK * MAX_RUNS],
	      timer_p99_v[NR_BK * MAX_RUNS];
static int ntimer;
static double churn_v[NR_BK][MAX_RUNS];		/* C lines: churn pages per s */
static int nchurn[NR_BK];

static struct lat_row *find_lat_row(enum backend bk, const char *name, const char *op)
{
	if (strcmp(bks[bk].name, name))
		return NULL;
	for (size_t i = 0; i < NR_LAT_ROWS; i++)
		if (lat_rows[i].bk == bk && !strcmp(op_names[lat_rows[i].op], op))
			return &lat_rows[i];
	return NULL;
}

/* The median of any number of values (reorders @v). */
static double median_all(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}


int collect_latency(enum backend bk, const char *line)
{
	char name[32], op[32];
	double x[NR_LS];
	struct lat_row *lr;

	if (sscanf(line, "L %31s %31s %lf %lf %lf %lf %lf %lf %lf %lf", name, op, &x[0], &x[1],
		   &x[2], &x[3], &x[4], &x[5], &x[6], &x[7]) == 2 + NR_LS) {
		lr = find_lat_row(bk, name, op);
		if (!lr || lr->nv >= MAX_RUNS || !(x[LS_CALLS] > 0)) {
			fprintf(stderr, "pagepool-bench: %s: bad result line '%s'\n",
				bks[bk].name, line);
			return -1;
		}
		for (int k = 0; k < NR_LS; k++)
			lr->v[k][lr->nv] = x[k];
		lr->nv++;
		return 1;
	}
	if (sscanf(line, "T %lf %lf %lf", &x[0], &x[1], &x[2]) == 3) {
		if (ntimer < NR_BK * MAX_RUNS) {
			timer_v[ntimer] = x[0];
			timer_min_v[ntimer] = x[1];
			timer_p99_v[ntimer++] = x[2];
		}
		return 1;
	}
	if (sscanf(line, "C %31s %lf", name, &x[0]) == 2 && !strcmp(name, bks[bk].name)) {
		if (nchurn[bk] < MAX_RUNS)
			churn_v[bk][nchurn[bk]++] = x[0];
		return 1;
	}
	return 0;
}

/* The latency table and its notes; @command: print the command line too. */
void print_latency_table(const struct pb_opts *o, FILE *csv, bool command)
{
	const struct sizes *sz = o->b.quick ? &quick_sizes : &full_sizes;
	bool any = false, first = true;

	printf("%slatency: ns per call, with a churn thread allocating and freeing "
	       "(median of %d processes per backend, each column separately)\n\n",
	       command ? "" : "\n", o->b.runs);
	md_head("llrrrrrrr", "backend | op | calls | p50 | p99 | p99.9 | p99.99 | max | over 10 us");
	for (size_t i = 0; i < NR_LAT_ROWS; i++) {
		struct lat_row *lr = &lat_rows[i];
		double med[NR_LS];
		char runs[32] = "";

		if (!lr->nv)
			continue;
		any = true;
		for (int k = 0; k < NR_LS; k++)
			med[k] = median(lr->v[k], lr->nv);
		if (lr->nv != o->b.runs)
			snprintf(runs, sizeof(runs), " (%d of %d runs)", lr->nv, o->b.runs);
		printf("| %s%s | %s | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f |\n",
		       bks[lr->bk].name, runs, op_names[lr->op], med[LS_CALLS], med[LS_P50],
		       med[LS_P99], med[LS_P999], med[LS_P9999], med[LS_MAX], med[LS_OVER]);
		if (csv)
			fprintf(csv, "%s,%s,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f,%d\n",
				bks[lr->bk].name, op_names[lr->op], med[LS_CALLS], med[LS_P50],
				med[LS_P99], med[LS_P999], med[LS_P9999], med[LS_MAX],
				med[LS_OVER], lr->nv);
	}
	if (!any)
		printf("| (no results) | | | | | | | | |\n");

	printf("\n");
	if (command) {
		printf("median of %d processes per backend; command: ", o->b.runs);
		print_command(stdout, o->b.argc, o->b.argv);
		printf("\n\n");
	}
	printf("Each call timed alone: clock_gettime(CLOCK_MONOTONIC) before and after "
	       "(vDSO; no rdtsc of our own), less the timer's cost");
	if (ntimer) {
		double lo = min_of(timer_v, ntimer), hi = max_of(timer_v, ntimer);
		double least = min_of(timer_min_v, ntimer);

		printf(" = the median of %d back-to-back pairs in the same process: %.0f ns "
		       "(median of %d processes, %.0f-%.0f across them; the pairs' p99 %.0f ns, "
		       "least %.0f ns)", LAT_CALIB, median_all(timer_v, ntimer), ntimer, lo, hi,
		       median_all(timer_p99_v, ntimer), least);
	}
	printf(".  Samples keep the clock's granularity (a call shorter than one step "
	       "reads 0 or one step).  Percentiles are nearest-rank over exact samples "
	       "(1-ns histogram to %d us, longer ones listed); over 10 us = calls above "
	       "%d ns.\n", LAT_BUCKETS / 1000, LAT_OVER_NS);
	printf("Measuring thread: rounds of %d allocations, one call at a time, then %d "
	       "frees (every page touched), about %zuk calls per op or %.1f s per "
	       "process, after a warm-up of a tenth; meanwhile a churn thread allocates "
	       "and frees rounds of %d pages with the same backend.\n",
	       LAT_ROUND, LAT_ROUND, sz->lat_samples / 1000, sz->lat_budget / 1e9,
	       CHURN_PAGES);
	printf("pagepool: try = pp_alloc_page_try(), nowait = pp_alloc_page(PP_NOWAIT), "
	       "alloc0 = pp_alloc_page(0), in rotating rounds (a NULL from try or nowait is "
	       "timed, then an untimed pp_alloc_page(0) stands in); free = pp_free_page() "
	       "in the alloc0 rounds.  none = the same loop around an empty noinline call; "
	       "its churn thread touches pages without allocating.\n");
	for (size_t i = 0; i < NR_LAT_ROWS; i++) {
		struct lat_row *lr = &lat_rows[i];

		if (!lr->nv || (lr->op != OP_TRY && lr->op != OP_NOWAIT))
			continue;
		{
			double pct[MAX_RUNS];

			for (int k = 0; k < lr->nv; k++)
				pct[k] = 100.0 * lr->v[LS_NULLS][k] / lr->v[LS_CALLS][k];
			printf("%s %s returned NULL %.1f%%", first ? "NULL returns:" : ",",
			       op_names[lr->op], median(pct, lr->nv));
		}
		first = false;
	}
	if (!first)
		printf(" (median over processes).\n");
	first = true;
	for (int b = 0; b < NR_BK; b++) {
		if (!nchurn[b])
			continue;
		printf("%s %s %.1f", first ? "Churn thread, M pages allocated + freed per s:" : ",",
		       bks[b].name, median(churn_v[b], nchurn[b]) / 1e6);
		first = false;
	}
	if (!first)
		printf(".\n");
}
