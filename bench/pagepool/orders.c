/* SPDX-License-Identifier: MIT */
/*
 * orders.c - the orders workload of pagepool-bench: 64 live blocks of
 * orders 0-3; each step frees a random one and allocates a block of a
 * random order in its place (weighted 8:4:2:1, one seeded sequence for
 * every backend), each aligned to its size; ns per step.
 */
#include "config.h"


#include "backends.h"

#define ORD_SEQ		65536		/* steps before the sequence repeats */
#define ORD_SEED	0x9e3779b97f4a7c15ull

_Static_assert(ORD_LIVE <= 64 && !(ORD_LIVE & (ORD_LIVE - 1)), "slot fits in 6 bits");

/* The steps: the slot to replace (low 6 bits) and the new block's order (top 2). */
static uint8_t ord_seq[ORD_SEQ];

struct ord_state {
	void *blk[ORD_LIVE];
	unsigned order[ORD_LIVE];
	size_t pos;			/* next step in ord_seq */
};

/* One seeded sequence (splitmix64), the same for every backend. */
static void orders_init(void)
{
	uint64_t x = ORD_SEED;

	for (size_t i = 0; i < ORD_SEQ; i++) {
		uint64_t r, w;
		unsigned order;

		x += 0x9e3779b97f4a7c15ull;
		r = x;
		r = (r ^ (r >> 30)) * 0xbf58476d1ce4e5b9ull;
		r = (r ^ (r >> 27)) * 0x94d049bb133111ebull;
		r ^= r >> 31;
		w = (r >> 32) % 15;		/* orders 0..3 weighted 8:4:2:1 */
		order = w < 8 ? 0 : w < 12 ? 1 : w < 14 ? 2 : 3;
		ord_seq[i] = (uint8_t)((r & (ORD_LIVE - 1)) | order << 6);
	}
}

/* Every page of a block gets one byte written. */
static ALWAYS_INLINE void touch_block(void *p, unsigned order, size_t i)
{
	for (size_t j = 0; j < (size_t)1 << order; j++)
		((volatile char *)p)[j * page_size] = (char)i;
}

/* Allocate the working set (@fill) or free it; untimed. */
static ALWAYS_INLINE void orders_fill_impl(alloc_order_fn *A, free_order_fn *F,
					   struct ord_state *st, bool fill)
{
	for (size_t s = 0; s < ORD_LIVE; s++) {
		if (!fill) {
			F(st->blk[s], st->order[s]);
			st->blk[s] = NULL;
			continue;
		}
		st->order[s] = ord_seq[s] >> 6;
		st->blk[s] = A(st->order[s]);
		if (!st->blk[s])
			oom();
		touch_block(st->blk[s], st->order[s], s);
	}
	st->pos = 0;
}

static void do_orders_fill(enum backend bk, struct ord_state *st, bool fill)
{
	DISPATCH_ORDER(bk, orders_fill_impl, st, fill)
}

/* Steps: free the block in the step's slot, allocate one of the step's order. */
static ALWAYS_INLINE struct meas orders_impl(alloc_order_fn *A, free_order_fn *F,
					     struct ord_state *st, size_t max, double budget)
{
	uintptr_t acc = 0;
	double t0 = now_ns(), t = t0;
	size_t i = 0, pos = st->pos;

	while (i < max && t - t0 < budget) {
		size_t end = max - i < CHECK_UNITS ? max : i + CHECK_UNITS;

		for (; i < end; i++, pos++) {
			unsigned e = ord_seq[pos & (ORD_SEQ - 1)];
			unsigned slot = e & (ORD_LIVE - 1), order = e >> 6;
			void *p;

			F(st->blk[slot], st->order[slot]);
			p = A(order);
			if (__builtin_expect(!p, 0))
				oom();
			touch_block(p, order, i);
			acc ^= (uintptr_t)p;
			st->blk[slot] = p;
			st->order[slot] = order;
		}
		t = now_ns();
	}
	st->pos = pos;
	sink ^= acc;
	return (struct meas){ t - t0, i };
}

static struct meas do_orders(enum backend bk, struct ord_state *st, size_t max, double budget)
{
	DISPATCH_ORDER(bk, orders_impl, st, max, budget)
}

void run_orders(enum backend bk, const struct sizes *sz)
{
	static struct ord_state st;
	struct meas m;

	orders_init();
	do_orders_fill(bk, &st, true);
	do_orders(bk, &st, sz->pair / 10, sz->warm_budget);
	try_fallbacks = 0;
	m = do_orders(bk, &st, sz->pair, sz->budget);
	report(WL_ORDERS, bks[bk].name, m, fallback_pct(bk, m.units));
	do_orders_fill(bk, &st, false);
}
