#ifndef MXB_FUZZ_H
#define MXB_FUZZ_H

/*
 * The entry point every fuzz target defines. libFuzzer calls it with each input; replay.c
 * calls it with each corpus file when built without libFuzzer.
 */

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * A property of the code under test does not hold. Aborts, so that libFuzzer keeps the
 * input and the replay test fails, rather than only crashes counting as findings.
 */
#define FUZZ_CHECK(cond)                                                                      \
	do {                                                                                  \
		if (!(cond)) {                                                                \
			fprintf(stderr, "%s:%d: property violated: %s\n", __FILE__, __LINE__, \
				#cond);                                                       \
			abort();                                                              \
		}                                                                             \
	} while (0)

#endif
