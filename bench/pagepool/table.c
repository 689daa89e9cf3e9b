/* SPDX-License-Identifier: MIT */
/*
 * table.c - pagepool-bench's main table: a row per workload and backend
 * (every workload but those with a process and table of their own), the
 * children's R lines collected into it, the medians over the runs, the
 * ratios to jemalloc, the notes and the CSV (--csv).
 */
#include "config.h"

#include <string.h>

#include "bench.h"

#define MAX_ROWS (NR_WL * (NR_BK + 1))

struct row {
	enum workload wl;
	const char *name;
	double v[MAX_RUNS];
	int nv;
	double fb[MAX_RUNS];	/* pagepool-try fallback %, when reported */
	int nfb;
};

static struct row rows[MAX_ROWS];
static size_t nrows;

/* The rows in display order: by workload, its first row, then by backend. */
static void rows_init(void)
{
	if (nrows)
		return;
	for (int w = 0; w < NR_WL; w++) {
		if (workloads[w].own_process)
			continue;
		if (workloads[w].first_row)
			rows[nrows++] = (struct row){ .wl = (enum workload)w,
						      .name = workloads[w].first_row };
		for (int b = 0; b < NR_BK; b++)
			if (workloads[w].backends & B(b))
				rows[nrows++] = (struct row){ .wl = (enum workload)w,
							      .name = bks[b].name };
	}
}

static struct row *find_row(const char *wl, const char *name)
{
	rows_init();
	for (size_t i = 0; i < nrows; i++)
		if (!strcmp(workloads[rows[i].wl].name, wl) && !strcmp(rows[i].name, name))
			return &rows[i];
	return NULL;
}

int collect_result(enum backend bk, const char *line)
{
	char wl[32], name[32];
	double ns, fb;
	struct row *r;

	if (sscanf(line, "R %31s %31s %lf %lf", wl, name, &ns, &fb) != 4)
		return 0;
	r = find_row(wl, name);
	if (!r || r->nv >= MAX_RUNS || !(ns > 0)) {
		fprintf(stderr, "pagepool-bench: %s: bad result line '%s'\n", bks[bk].name, line);
		return -1;
	}
	r->v[r->nv++] = ns;
	if (fb >= 0)
		r->fb[r->nfb++] = fb;
	return 1;
}

static double row_median(enum workload wl, const char *name)
{
	struct row *r = find_row(workloads[wl].name, name);

	return r && r->nv ? median(r->v, r->nv) : 0;
}

/* The main table (every workload but latency) and its notes. */
void print_main_table(const struct pb_opts *o, FILE *csv)
{
	rows_init();
	md_head("llrr", "workload | backend | ns/op (median of %d) | x jemalloc", o->b.runs);
	for (size_t i = 0; i < nrows; i++) {
		struct row *r = &rows[i];
		double med, je;
		char ratio[32], runs[32] = "";

		if (!r->nv)
			continue;
		med = median(r->v, r->nv);
		je = row_median(r->wl, "jemalloc");
		fmt_ratio(ratio, sizeof(ratio), je, med);
		if (r->nv != o->b.runs)
			snprintf(runs, sizeof(runs), " (%d of %d runs)", r->nv, o->b.runs);
		printf("| %s | %s | %.1f%s | %s |\n", workloads[r->wl].name, r->name, med, runs, ratio);
		if (csv)
			fprintf(csv, "%s,%s,%.3f,%s,%d,%.3f,%.3f\n", workloads[r->wl].name, r->name,
				med, ratio, r->nv, min_of(r->v, r->nv), max_of(r->v, r->nv));
	}

	printf("\nmedian of %d processes per backend; command: ", o->b.runs);
	print_command(stdout, o->b.argc, o->b.argv);
	printf("\n\n");
	printf("ns/op: pair = one alloc + free; batch (%d pages), bulk (%d pages) and "
	       "remote = per page (remote: wall time, producer + consumer thread); "
	       "orders = one free + one allocation of 2^0..2^3 pages (weights 8:4:2:1, "
	       "%d live blocks, each aligned to its size).\n",
	       BATCH_PAGES, BULK_PAGES, ORD_LIVE);
	printf("x jemalloc = jemalloc ns / backend ns (above 1: faster than jemalloc).\n");
	printf("Every allocated page gets one byte written, in every workload, for every "
	       "backend.\n");
	{
		const struct sizes *sz = o->b.quick ? &quick_sizes : &full_sizes;

		printf("Each timed loop runs %zuM pairs (orders: steps) or %zuM pages, or "
		       "%.1f s, whichever ends first, after an untimed warm-up.\n",
		       sz->pair / 1000000, sz->pages / 1000000, sz->budget / 1e9);
	}
	{
		bool first = true;

		for (size_t i = 0; i < nrows; i++) {
			if (strcmp(rows[i].name, "pagepool-try") || !rows[i].nfb)
				continue;
			if (first)
				printf("pagepool-try = pp_alloc_page_try(), falling back to "
				       "pp_alloc_page(0) when the thread cache is empty (orders: "
				       "pp_alloc_pages(order, PP_TRY), then 0); fallbacks:");
			printf("%s %s %.1f%%", first ? "" : ",", workloads[rows[i].wl].name,
			       median(rows[i].fb, rows[i].nfb));
			first = false;
		}
		if (!first)
			printf(".\n");
	}
}
