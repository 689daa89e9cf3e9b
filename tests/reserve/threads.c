/* SPDX-License-Identifier: MIT */
/*
 * threads.c - four threads share one reserve at the cap without a page
 * handed out twice.
 */
#include "reserve.h"

/* ---- four threads, one reserve, cap reached -------------------------- */

enum { TH = 4, TH_MIN = 32, TH_HOLD = 12, TH_OPS = 20000 };

static struct pp_reserve *th_res;
static _Atomic unsigned char *th_owner;	/* per page index: handed out now */

struct th_result {
	size_t twice, bad_tag, bad_errno, null0, served;
};

static bool th_take(void *p)
{
	return atomic_exchange(&th_owner[pp_index(p)], 1) == 0;
}

static void *th_worker(void *arg)
{
	struct th_result *res = arg;
	uint64_t seed = 0x9e3779b97f4a7c15ull ^ (uintptr_t)arg, tags[TH_HOLD];
	void *held[TH_HOLD];
	size_t nh = 0;

	for (size_t op = 0; op < TH_OPS || nh; op++) {
		uint64_t x = rnd(&seed);

		if (op < TH_OPS && nh < TH_HOLD && (x & 3) != 0) {
			unsigned flags = nh == 0 && (x & 12) == 0 ? 0 :
					 (x & 16) ? PP_TRY : PP_NOWAIT;
			void *p;

			flags |= (x & 32) ? PP_ZERO : 0;
			errno = 0;
			p = pp_reserve_alloc(th_res, flags);
			if (!p) {
				if (!(flags & (PP_TRY | PP_NOWAIT)))
					res->null0++;
				else if (errno != EAGAIN)
					res->bad_errno++;
				else if (nh)
					goto give;	/* free one, as a mempool user would */
				continue;
			}
			if (!th_take(p))
				res->twice++;
			tags[nh] = x | 1;
			tag_block(p, 0, tags[nh]);
			held[nh++] = p;
			res->served++;
			continue;
		}
		if (!nh)
			continue;
give:
		{
			size_t i = (size_t)(x >> 40) % nh;
			void *p = held[i];

			if (!tag_ok(p, 0, tags[i]))
				res->bad_tag++;
			atomic_store(&th_owner[pp_index(p)], 0);
			held[i] = held[--nh];
			tags[i] = tags[nh];
			if ((x & 0xf00) == 0)
				pp_free_page(p);	/* to the pool, not the reserve */
			else
				pp_reserve_free(th_res, p);
		}
	}
	return NULL;
}

START_TEST(test_concurrent_one_reserve)
{
	static struct th_result res[TH];
	pthread_t t[TH];
	struct pp_stats s0, s;
	void **v;
	size_t n, served = 0;

	ck_assert_int_eq(pp_configure(CAP_CONF), 0);
	th_res = pp_reserve_create(TH_MIN);
	ck_assert_ptr_nonnull(th_res);
	v = exhaust_checked(&n);
	th_owner = calloc(CAP_PAGES, 1);
	ck_assert_ptr_nonnull(th_owner);
	for (size_t i = 0; i < n; i++)
		th_owner[pp_index(v[i])] = 1;
	s0 = get_stats();
	for (int i = 0; i < TH; i++)
		t[i] = spawn(th_worker, &res[i]);
	for (int i = 0; i < TH; i++)
		join(t[i]);
	for (int i = 0; i < TH; i++) {
		ck_assert_msg(res[i].twice == 0, "thread %d: %zu pages handed out twice", i,
			      res[i].twice);
		ck_assert_msg(res[i].bad_tag == 0, "thread %d: %zu pages overwritten while "
			      "held", i, res[i].bad_tag);
		ck_assert_uint_eq(res[i].bad_errno, 0);
		ck_assert_uint_eq(res[i].null0, 0);
		served += res[i].served;
	}
	ck_assert_uint_gt(served, TH * TH_MIN);
	s = get_stats();
	/* Every page the threads used came from the reserve; none was lost. */
	ck_assert_uint_eq(s.in_use, s0.in_use);
	ck_assert_uint_le(s.reserved, TH_MIN);
	ck_assert_uint_eq(s.reserved + s.free + s.cached, s0.reserved + s0.free + s0.cached);
	check_conservation();
	pp_reserve_destroy(th_res);
	release_all(v, n);
	ck_assert_uint_eq(get_stats().in_use, 0);
	check_conservation();
	free((void *)th_owner);
}
END_TEST

/* ---- into the test case ----------------------------------------------- */

void add_threads_tests(TCase *tc)
{
	tcase_add_test(tc, test_concurrent_one_reserve);
}
