/* SPDX-License-Identifier: MIT */
/*
 * fuzz-target.h - the libFuzzer entry point of tests/fuzz/fuzz-config.c,
 * declared for the replay driver (tests/fuzz/replay.c), which runs the
 * same target on the corpus without libFuzzer.
 */
#ifndef PP_FUZZ_TARGET_H
#define PP_FUZZ_TARGET_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif /* PP_FUZZ_TARGET_H */
