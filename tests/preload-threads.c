/* SPDX-License-Identifier: MIT */
/*
 * preload-threads.c - a multi-threaded malloc workload for
 * tests/preload-programs.sh, run plainly and under the LD_PRELOAD shim.
 *
 * Eight threads allocate buffers of 1 KiB..64 KiB with malloc, calloc,
 * posix_memalign, aligned_alloc and memalign, resize them with realloc,
 * write and verify a pattern in each, free most themselves and pass the
 * rest to another thread's mutex-protected inbox to be verified and freed
 * there.  Each thread's choices come from its own seeded generator, so the
 * set of buffers (and the printed summary) is the same on every run
 * whatever the scheduling; threads exit holding nothing.
 *
 * Links no pagepool library.  When the shim is loaded (its pp_owns is
 * found with dlsym) every fresh block is also checked against the
 * routing rules: pool blocks are exactly the requests of page alignment,
 * or of at least preload_min bytes that fill preload_fit percent of their
 * whole pages, with malloc_usable_size a whole number of pages.  Any failure is reported on stderr and exits 1.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE 1
#endif
#include <dlfcn.h>
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NTHREADS 8
#define OPS 20000		/* operations per thread */
#define SLOTS 48		/* buffers a thread holds at most */
#define MAX_POOL_PAGES 1024	/* larger requests go to the C library */

enum kind { K_MALLOC, K_CALLOC, K_POSIX_MEMALIGN, K_ALIGNED_ALLOC, K_MEMALIGN, K_NKINDS };
static const char *const kind_name[K_NKINDS] = {
	"malloc", "calloc", "posix_memalign", "aligned_alloc", "memalign"
};

struct buf {
	unsigned char *p;
	size_t size;
	uint64_t tag;
};

/* A buffer in flight to another thread; the node itself is a small malloc. */
struct node {
	struct node *next;
	struct buf b;
};

struct inbox {
	pthread_mutex_t lock;
	struct node *head;
};

struct worker {
	pthread_t thr;
	unsigned id;
	uint64_t rng;
	struct buf slot[SLOTS];
	/* Deterministic: decided by this thread's generator alone. */
	unsigned long allocs[K_NKINDS], reallocs, sent;
	unsigned long long bytes;
	/* Depends on who frees what, summed over all threads at the end. */
	unsigned long freed;
	uint64_t sum;
	char fail[240];
};

static struct worker workers[NTHREADS];
static struct inbox inbox[NTHREADS];
static atomic_uint senders_done;

/* The shim's API when it is loaded, else NULL. */
static int (*shim_owns)(const void *);
static size_t page_size, preload_min, preload_fit;
static int check_routing;

#define FAIL(w, ...) do {						\
		if (!(w)->fail[0])					\
			snprintf((w)->fail, sizeof((w)->fail), __VA_ARGS__); \
	} while (0)

static uint64_t next_rand(struct worker *w)
{
	/* xorshift64* */
	w->rng ^= w->rng >> 12;
	w->rng ^= w->rng << 25;
	w->rng ^= w->rng >> 27;
	return w->rng * UINT64_C(2685821657736338717);
}

static uint64_t pattern_word(uint64_t tag, size_t off)
{
	return tag ^ ((uint64_t)off * UINT64_C(0x9E3779B97F4A7C15));
}

/* The pattern is a sequence of 8-byte words; a prefix of it is a pattern. */
static void fill(unsigned char *p, size_t size, uint64_t tag)
{
	for (size_t off = 0; off < size; off += 8) {
		uint64_t v = pattern_word(tag, off);
		size_t n = size - off < 8 ? size - off : 8;

		memcpy(p + off, &v, n);
	}
}

static int verify(const unsigned char *p, size_t size, uint64_t tag)
{
	for (size_t off = 0; off < size; off += 8) {
		uint64_t v = pattern_word(tag, off);
		size_t n = size - off < 8 ? size - off : 8;

		if (memcmp(p + off, &v, n) != 0)
			return 0;
	}
	return 1;
}

/* A deterministic digest of one buffer's identity and final size. */
static uint64_t mix(uint64_t tag, size_t size)
{
	uint64_t x = tag * UINT64_C(0xff51afd7ed558ccd) + size;

	x ^= x >> 33;
	x *= UINT64_C(0xc4ceb9fe1a85ec53);
	return x ^ (x >> 29);
}

static size_t rand_size(struct worker *w)
{
	uint64_t r = next_rand(w);

	switch (r % 20) {
	case 0: case 1: case 2: case 3: case 4:
	case 5: case 6: case 7: case 8: case 9:
		return 1024 + (size_t)(r >> 8) % 3073;		/* 1 KiB .. 4 KiB */
	case 10: case 11: case 12: case 13: case 14: case 15: case 16:
		return 4096 + (size_t)(r >> 8) % 12289;		/* 4 KiB .. 16 KiB */
	default:
		return 16384 + (size_t)(r >> 8) % 49153;	/* 16 KiB .. 64 KiB */
	}
}

/* A fresh block against the shim's routing rules (only when it is loaded). */
static void check_block(struct worker *w, const char *call, const void *p, size_t size,
			size_t align)
{
	size_t pages = (size + page_size - 1) / page_size;
	int want, owned;

	if (!shim_owns)
		return;
	owned = shim_owns(p) != 0;
	if (owned && malloc_usable_size((void *)p) != pages * page_size)
		FAIL(w, "%s(%zu): pool block %p has malloc_usable_size %zu, want %zu pages of %zu",
		     call, size, p, malloc_usable_size((void *)p), pages, page_size);
	if (!check_routing)
		return;
	want = size != 0 && pages <= MAX_POOL_PAGES &&
	       (align >= page_size ||
		(size >= preload_min && size * 100 >= pages * page_size * preload_fit));
	if (owned != want)
		FAIL(w, "%s(%zu, alignment %zu): pp_owns says %d, the routing rule %d "
		     "(preload_min %zu, preload_fit %zu)",
		     call, size, align, owned, want, preload_min, preload_fit);
}

static void release(struct worker *w, struct buf *b)
{
	if (!verify(b->p, b->size, b->tag))
		FAIL(w, "buffer %#" PRIx64 " of %zu bytes corrupted", b->tag, b->size);
	w->sum += mix(b->tag, b->size);
	w->freed++;
	free(b->p);
	b->p = NULL;
}

static void drain(struct worker *w)
{
	struct node *n;

	pthread_mutex_lock(&inbox[w->id].lock);
	n = inbox[w->id].head;
	inbox[w->id].head = NULL;
	pthread_mutex_unlock(&inbox[w->id].lock);
	while (n) {
		struct node *next = n->next;

		release(w, &n->b);
		free(n);
		n = next;
	}
}

static void alloc_slot(struct worker *w, struct buf *b)
{
	size_t size = rand_size(w), align = 0;
	enum kind k = (enum kind)(next_rand(w) % 20);
	static const size_t aligns[] = { 16, 64, 256, 4096, 8192 };
	void *p = NULL;
	int err;

	k = k < 10 ? K_MALLOC : k < 14 ? K_CALLOC : k < 17 ? K_POSIX_MEMALIGN :
	    k < 19 ? K_ALIGNED_ALLOC : K_MEMALIGN;
	switch (k) {
	case K_MALLOC:
		p = malloc(size);
		break;
	case K_CALLOC:
		p = calloc(size / 8, 8);
		size = size / 8 * 8;
		break;
	case K_POSIX_MEMALIGN:
		align = aligns[next_rand(w) % 5];
		err = posix_memalign(&p, align, size);
		if (err)
			p = NULL;
		break;
	case K_ALIGNED_ALLOC:
		align = aligns[next_rand(w) % 5];
		size = (size + align - 1) / align * align;
		p = aligned_alloc(align, size);
		break;
	default:
		align = aligns[next_rand(w) % 5];
		p = memalign(align, size);
		break;
	}
	if (!p) {
		FAIL(w, "%s(%zu) failed", kind_name[k], size);
		return;
	}
	if (align && (uintptr_t)p % align)
		FAIL(w, "%s(%zu) returned %p, not aligned to %zu", kind_name[k], size, p, align);
	if (k == K_CALLOC)
		for (size_t i = 0; i < size; i++)
			if (((unsigned char *)p)[i]) {
				FAIL(w, "calloc(%zu) byte %zu is not zero", size, i);
				break;
			}
	check_block(w, kind_name[k], p, size, align);
	b->p = p;
	b->size = size;
	b->tag = ((uint64_t)(w->id + 1) << 56) | (next_rand(w) >> 8);
	fill(b->p, b->size, b->tag);
	w->allocs[k]++;
	w->bytes += size;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	for (unsigned op = 0; op < OPS; op++) {
		uint64_t r = next_rand(w);
		struct buf *b = &w->slot[(r >> 16) % SLOTS];
		unsigned what = (unsigned)(r % 100);

		if (what < 40 || !b->p) {		/* (re)fill a slot */
			if (b->p)
				release(w, b);
			alloc_slot(w, b);
		} else if (what < 60) {			/* resize in place or move */
			size_t nsize = rand_size(w);
			size_t keep = nsize < b->size ? nsize : b->size;
			unsigned char *q;

			q = realloc(b->p, nsize);
			if (!q) {
				FAIL(w, "realloc(%zu -> %zu) failed", b->size, nsize);
				continue;
			}
			if (!verify(q, keep, b->tag))
				FAIL(w, "realloc(%zu -> %zu) lost the first %zu bytes", b->size,
				     nsize, keep);
			b->p = q;
			b->size = nsize;
			fill(b->p, b->size, b->tag);
			w->reallocs++;
		} else if (what < 75) {			/* free here */
			release(w, b);
		} else if (what < 90) {			/* free in another thread */
			unsigned to = (w->id + 1 + (unsigned)(r >> 40) % (NTHREADS - 1)) % NTHREADS;
			struct node *n = malloc(sizeof(*n));

			if (!n) {
				FAIL(w, "malloc(%zu) failed", sizeof(*n));
				continue;
			}
			n->b = *b;
			b->p = NULL;
			pthread_mutex_lock(&inbox[to].lock);
			n->next = inbox[to].head;
			inbox[to].head = n;
			pthread_mutex_unlock(&inbox[to].lock);
			w->sent++;
		} else {
			drain(w);
		}
	}

	/* Exit holding nothing: own buffers, then whatever the others send. */
	for (unsigned i = 0; i < SLOTS; i++)
		if (w->slot[i].p)
			release(w, &w->slot[i]);
	atomic_fetch_add(&senders_done, 1);
	while (atomic_load(&senders_done) < NTHREADS) {
		drain(w);
		sched_yield();
	}
	drain(w);
	return NULL;
}

static void find_shim(void)
{
	int (*option)(const char *, size_t *);
	size_t (*psize)(void);
	size_t v;

	page_size = (size_t)sysconf(_SC_PAGESIZE);
	*(void **)&shim_owns = dlsym(RTLD_DEFAULT, "pp_owns");
	*(void **)&psize = dlsym(RTLD_DEFAULT, "pp_page_size");
	*(void **)&option = dlsym(RTLD_DEFAULT, "pp_option");
	if (!shim_owns)
		return;
	if (psize)
		page_size = psize();
	if (option && option("preload_min", &v) == 0) {
		preload_min = v;
		check_routing = option("preload_fit", &preload_fit) == 0;
	}
}

int main(void)
{
	unsigned long allocs[K_NKINDS] = { 0 }, reallocs = 0, sent = 0, freed = 0, nallocs = 0;
	unsigned long long bytes = 0;
	uint64_t sum = 0;
	int status = 0;

	find_shim();
	for (unsigned i = 0; i < NTHREADS; i++) {
		pthread_mutex_init(&inbox[i].lock, NULL);
		workers[i].id = i;
		workers[i].rng = UINT64_C(0x243F6A8885A308D3) + i * UINT64_C(0x9E3779B97F4A7C15);
	}
	for (unsigned i = 0; i < NTHREADS; i++)
		if (pthread_create(&workers[i].thr, NULL, worker_main, &workers[i]) != 0) {
			fprintf(stderr, "preload-threads: pthread_create failed\n");
			return 1;
		}
	for (unsigned i = 0; i < NTHREADS; i++) {
		struct worker *w = &workers[i];

		pthread_join(w->thr, NULL);
		if (w->fail[0]) {
			fprintf(stderr, "preload-threads: thread %u: %s\n", i, w->fail);
			status = 1;
		}
		for (int k = 0; k < K_NKINDS; k++) {
			allocs[k] += w->allocs[k];
			nallocs += w->allocs[k];
		}
		reallocs += w->reallocs;
		sent += w->sent;
		freed += w->freed;
		bytes += w->bytes;
		sum += w->sum;
	}
	for (unsigned i = 0; i < NTHREADS; i++)
		if (inbox[i].head) {
			fprintf(stderr, "preload-threads: inbox %u not empty at the end\n", i);
			status = 1;
		}
	if (freed != nallocs) {
		fprintf(stderr, "preload-threads: %lu buffers allocated, %lu freed\n", nallocs, freed);
		status = 1;
	}

	printf("threads: %d x %d operations\n", NTHREADS, OPS);
	for (int k = 0; k < K_NKINDS; k++)
		printf("%s: %lu\n", kind_name[k], allocs[k]);
	printf("realloc: %lu\n", reallocs);
	printf("freed by another thread: %lu\n", sent);
	printf("bytes allocated: %llu\n", bytes);
	printf("checksum: %016" PRIx64 "\n", sum);
	return status;
}
