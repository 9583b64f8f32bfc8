#include <stdlib.h>

#include "fuzz_driver.h"

/* compiler-rt's FuzzerInterface.h; linked by -sanitize=fuzzer. */
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

void kata_fuzz_run(int argc, char **argv, int (*callback)(const uint8_t *data, size_t size)) {
    exit(LLVMFuzzerRunDriver(&argc, &argv, callback));
}
