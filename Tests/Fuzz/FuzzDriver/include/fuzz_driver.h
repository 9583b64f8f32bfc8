#ifndef KATA_FUZZ_DRIVER_H
#define KATA_FUZZ_DRIVER_H
#include <stddef.h>
#include <stdint.h>

/// Runs libFuzzer with `callback` as the input function and exits with its status. SwiftPM
/// gives every executable its own (renamed) main, so libFuzzer's main is never linked: each
/// target's main.swift calls this instead.
_Noreturn void kata_fuzz_run(int argc, char **argv, int (*callback)(const uint8_t *data, size_t size));

#endif
