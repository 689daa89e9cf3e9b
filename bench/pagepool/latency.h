/* SPDX-License-Identifier: MIT */
/*
 * latency.h - the latency workload's ops, shared by the child that times
 * them (latency.c) and the parent's table (latency-table.c).
 */
#ifndef PP_BENCH_PAGEPOOL_LATENCY_H
#define PP_BENCH_PAGEPOOL_LATENCY_H

enum lat_op { OP_EMPTY, OP_TRY, OP_NOWAIT, OP_ALLOC0, OP_ALLOC, OP_FREE, NR_OP };

extern const char *const op_names[NR_OP];

#endif /* PP_BENCH_PAGEPOOL_LATENCY_H */
