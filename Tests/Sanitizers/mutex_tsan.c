/* Makes Synchronization.Mutex visible to ThreadSanitizer (LD_PRELOADed by run.sh, TSan run only).
 *
 * Mutex's fast paths are inlined atomics, which TSan sees; a contended lock or unlock goes
 * through _lockSlow/_tryLockSlow/_unlockSlow, a futex in libswiftSynchronization.so, which is
 * not instrumented. TSan then misses the happens-before edge and reports accesses that are
 * all inside withLock of one Mutex as races (mutex-false-positive.swift reproduces it). These
 * wrappers interpose the three functions, call the real ones and tell TSan about the acquire
 * or release on the handle's address, the same address the inlined atomics use. A race with an
 * unlocked access is still reported. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdbool.h>
#include <stdint.h>

void __tsan_acquire(void *addr);
void __tsan_release(void *addr);

/* Swift methods: swiftcc, `self` (the handle, address-only) in the swiftself register. */
#define SWIFTCALL __attribute__((swiftcall))
#define SELF __attribute__((swift_context))
#define LOCK_SLOW "$s15Synchronization12_MutexHandleV9_lockSlowyys6UInt32VF"
#define TRY_LOCK_SLOW "$s15Synchronization12_MutexHandleV12_tryLockSlowSbyF"
#define UNLOCK_SLOW "$s15Synchronization12_MutexHandleV11_unlockSlowyyF"

typedef SWIFTCALL void (*lock_slow_t)(uint32_t, void *SELF);
typedef SWIFTCALL bool (*try_lock_slow_t)(void *SELF);
typedef SWIFTCALL void (*unlock_slow_t)(void *SELF);

SWIFTCALL void lock_slow(uint32_t id, void *SELF handle) __asm__(LOCK_SLOW);
SWIFTCALL bool try_lock_slow(void *SELF handle) __asm__(TRY_LOCK_SLOW);
SWIFTCALL void unlock_slow(void *SELF handle) __asm__(UNLOCK_SLOW);

SWIFTCALL void lock_slow(uint32_t id, void *SELF handle) {
    static lock_slow_t real;
    if (!real) real = (lock_slow_t)dlsym(RTLD_NEXT, LOCK_SLOW);
    real(id, handle);
    __tsan_acquire(handle);
}

SWIFTCALL bool try_lock_slow(void *SELF handle) {
    static try_lock_slow_t real;
    if (!real) real = (try_lock_slow_t)dlsym(RTLD_NEXT, TRY_LOCK_SLOW);
    bool locked = real(handle);
    if (locked) __tsan_acquire(handle);
    return locked;
}

SWIFTCALL void unlock_slow(void *SELF handle) {
    static unlock_slow_t real;
    if (!real) real = (unlock_slow_t)dlsym(RTLD_NEXT, UNLOCK_SLOW);
    __tsan_release(handle);
    real(handle);
}
