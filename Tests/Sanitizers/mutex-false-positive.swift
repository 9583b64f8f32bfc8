// Why run.sh preloads mutex_tsan.c under TSan: four threads increment a counter under Synchronization.Mutex. The
// count is always right, yet ThreadSanitizer reports a "Swift access race" inside withLock:
// the contended path (_lockSlow/_unlockSlow, a futex in libswiftSynchronization.so) is not
// instrumented, so TSan never sees the lock's happens-before edge.
// swiftc -sanitize=thread -g Tests/Sanitizers/mutex-false-positive.swift -o /tmp/m && /tmp/m
// reports; with LD_PRELOAD of mutex_tsan.c built as a shared library it does not.
import Glibc
import Synchronization

let counter = Mutex<Int>(0)
var threads: [pthread_t] = []
for _ in 0..<4 {
    var thread = pthread_t()
    pthread_create(&thread, nil, { _ in
        for _ in 0..<20000 { counter.withLock { $0 += 1 } }
        return nil
    }, nil)
    threads.append(thread)
}
for thread in threads { pthread_join(thread, nil) }
print(counter.withLock { $0 })  // 80000
