import Synchronization
import XCTest

@testable import ContainerEngine

/// A value shared by concurrent test closures.
private final class Shared<Value: Sendable>: Sendable {
    let value: Mutex<Value>
    init(_ value: Value) { self.value = Mutex(value) }
}

/// Blocking work runs on bounded threads: past the limit, callers wait for a slot.
final class BlockingTests: XCTestCase {
    func testConcurrentBlockingWorkNeverExceedsTheLimit() async throws {
        let gauge = Shared<(now: Int, peak: Int)>((0, 0))
        let total = Blocking.limit * 3
        try await withThrowingTaskGroup(of: Int.self) { group in
            for index in 0..<total {
                group.addTask {
                    try await Blocking.run {
                        gauge.value.withLock { $0.now += 1; $0.peak = max($0.peak, $0.now) }
                        // Long enough that the callers overlap, so the bound is what limits them.
                        usleep(2000)
                        gauge.value.withLock { $0.now -= 1 }
                        return index
                    }
                }
            }
            var seen = Set<Int>()
            for try await index in group { seen.insert(index) }
            XCTAssertEqual(seen.count, total)
        }
        let peak = gauge.value.withLock { $0.peak }
        XCTAssertLessThanOrEqual(peak, Blocking.limit)
        XCTAssertGreaterThan(peak, 1, "the work did not run concurrently at all")
    }

    func testSlotsHandOverToWaitersInOrder() async {
        let slots = AsyncSlots(1)
        await slots.acquire()
        let order = Shared<[Int]>([])
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await slots.acquire()
                order.value.withLock { $0.append(1) }
                slots.release()
            }
            // The waiter above must be parked before the slot is released.
            while !slots.hasWaiters { await Task.yield() }
            order.value.withLock { $0.append(0) }
            slots.release()
        }
        XCTAssertEqual(order.value.withLock { $0 }, [0, 1])
    }
}
