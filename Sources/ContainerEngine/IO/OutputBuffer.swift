#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import NIOCore
import Synchronization

/// Bytes a container process wrote to stdout or stderr, kept until the runtime reads them.
/// The pump appends; `read` pulls. After `finish()`, reads drain what is left, then return
/// empty data (EOF). The buffer is bounded: when full (its own limit, or the agent-wide
/// OutputBudget past this stream's reserve), the pump stops reading that stream, so only the
/// writing container waits, never the agent or other containers.
///
/// An RPC reader borrows instead (`lend`, then `settle`): the bytes leave the buffer only once
/// the answer carrying them reached the connection, so a reader whose client left mid-call
/// gives them back to the next one. One loan at a time; other reads wait for it, so order holds.
///
/// The chunks are NIO ByteBuffers, the pump's read buffers themselves: a loan within one chunk
/// is a slice of it, which a ttrpc answer writes to its socket as it is. The bytes then cross
/// the agent with the kernel's two copies alone (pipe to buffer, buffer to socket); copying
/// them into the encoded answer was the largest single item of the agent's CPU per 32 KiB read.
public final class OutputBuffer: Sendable {
    /// Above this many unread bytes the pump pauses the stream.
    public static let limit = 16 << 20
    /// A paused stream resumes once a reader brought it down to this. Resuming at the first
    /// byte under `limit` woke the pump for every 32 KiB read of a reader that lags its writer.
    static let resumeMark = limit - (limit / 4)

    /// Unread bytes as the pump's chunks, consumed from the front. A single buffer would make
    /// every read shift the whole remainder (16 MiB per 32 KiB read when the reader lags).
    struct State {
        var chunks: [ByteBuffer] = []
        /// Index of the first unread chunk; consumed chunks are dropped in batches.
        var head = 0
        /// Bytes already read from `chunks[head]`.
        var offset = 0
        var count = 0
        var finished = false
        /// A read returned EOF (empty data after `finished`).
        var eofDelivered = false
        /// Waiting reads by token, so a cancelled one can leave.
        var readers: [(token: UInt64, continuation: CheckedContinuation<Void, Never>)] = []
        var nextToken: UInt64 = 0
        var spaceWaiters: [@Sendable () -> Void] = []
        /// Bytes at the front handed out by the open loan (0: none open); still counted.
        var lent = 0
        /// The open loan's id (0: none), so a loan settled after `discard` changes nothing.
        var loanID: UInt64 = 0
        var nextLoanID: UInt64 = 0
        /// Discarded: late appends from the pump are dropped, not counted.
        var discarded = false
        /// A callback is registered with the budget for this buffer's space waiters.
        var budgetWaiting = false

        /// A read may take bytes or EOF now; otherwise it waits (nothing buffered, or a loan open).
        var readable: Bool { lent == 0 && (count > 0 || finished) }

        mutating func append(_ bytes: ByteBuffer) {
            guard bytes.readableBytes > 0 else { return }
            chunks.append(bytes)
            count += bytes.readableBytes
        }

        /// Up to `maxBytes` from the front; nothing is consumed. Bytes within the first chunk are
        /// a slice sharing its storage (no copy); only a read across chunks is copied together.
        func peek(_ maxBytes: Int) -> ByteBuffer {
            var wanted = min(maxBytes, count)
            let first = chunks[head]
            if wanted <= first.readableBytes - offset,
                let slice = first.getSlice(at: first.readerIndex + offset, length: wanted)
            {
                return slice
            }
            var out = ByteBufferAllocator().buffer(capacity: wanted)
            var index = head
            var at = offset
            while wanted > 0 {
                let chunk = chunks[index]
                let n = min(wanted, chunk.readableBytes - at)
                chunk.withUnsafeReadableBytes { _ = out.writeBytes(UnsafeRawBufferPointer(rebasing: $0[at..<(at + n)])) }
                wanted -= n
                at = 0
                index += 1
            }
            return out
        }

        /// Consumes `bytes` (at most `count`) from the front.
        mutating func drop(_ bytes: Int) {
            var wanted = min(bytes, count)
            while wanted > 0 {
                let n = min(wanted, chunks[head].readableBytes - offset)
                wanted -= n
                count -= n
                offset += n
                if offset == chunks[head].readableBytes {
                    head += 1
                    offset = 0
                }
            }
            if head == chunks.count {
                chunks.removeAll(keepingCapacity: true)
                head = 0
            } else if head >= 64 && head * 2 >= chunks.count {
                chunks.removeFirst(head)
                head = 0
            }
        }
    }

    let state = Mutex(State())
    let budget: OutputBudget

    public init(budget: OutputBudget = .shared) {
        self.budget = budget
    }

    deinit {
        // Whatever nobody read or discarded goes back to the agent-wide budget with the buffer.
        budget.remove(state.withLock { $0.discarded ? 0 : $0.count })
    }

    /// Appends a copy of `bytes` (tests; the pump hands over its own buffers).
    func append(_ bytes: Data) {
        var buffer = ByteBufferAllocator().buffer(capacity: bytes.count)
        buffer.writeBytes(bytes)
        append(buffer)
    }

    func append(_ bytes: ByteBuffer) {
        let (readers, counted) = state.withLock { state -> ([(token: UInt64, continuation: CheckedContinuation<Void, Never>)], Bool) in
            guard !state.discarded else { return ([], false) }
            state.append(bytes)
            defer { state.readers = [] }
            return (state.readers, true)
        }
        if counted { budget.add(bytes.readableBytes) }
        for reader in readers { reader.continuation.resume() }
    }

    func finish() {
        let readers = state.withLock { state in
            state.finished = true
            defer { state.readers = [] }
            return state.readers
        }
        for reader in readers { reader.continuation.resume() }
    }

    /// Drops everything buffered and ends the stream (its process was removed unread): the
    /// memory is freed now, and a pending read returns EOF.
    func discard() {
        let (readers, freed) = state.withLock { state in
            let freed = state.count
            state.discarded = true
            state.chunks = []
            state.head = 0
            state.offset = 0
            state.count = 0
            state.finished = true
            state.spaceWaiters = []
            state.lent = 0
            state.loanID = 0
            defer { state.readers = [] }
            return (state.readers, freed)
        }
        budget.remove(freed)
        for reader in readers { reader.continuation.resume() }
    }

    /// Whether the pump may read more now.
    var hasRoom: Bool { state.withLock { hasRoom($0) } }

    private func hasRoom(_ state: State) -> Bool {
        state.count < Self.limit && (state.count < budget.reserve || budget.available)
    }

    var isFinished: Bool { state.withLock { $0.finished } }

    /// A reader was given EOF: the stream's consumer is done with it.
    var reachedEOF: Bool { state.withLock { $0.eofDelivered } }

    /// Runs `callback` once there is room: now if there is (room freed between the pump's check
    /// and this call must not leave the stream paused forever), else when a reader of this
    /// stream frees some or the agent-wide budget falls under its limit.
    func onRoom(_ callback: @escaping @Sendable () -> Void) {
        let (now, askBudget) = state.withLock { state -> (Bool, Bool) in
            if hasRoom(state) { return (true, false) }
            state.spaceWaiters.append(callback)
            // Full only because of the budget: its readers elsewhere can free the room too.
            let askBudget = state.count < Self.limit && !state.budgetWaiting
            if askBudget { state.budgetWaiting = true }
            return (false, askBudget)
        }
        if now {
            callback()
        } else if askBudget {
            budget.onRoom { [weak self] in self?.budgetFreed() }
        }
    }

    private func budgetFreed() {
        let waiters = state.withLock { state -> [@Sendable () -> Void] in
            state.budgetWaiting = false
            defer { state.spaceWaiters = [] }
            return state.spaceWaiters
        }
        for waiter in waiters { waiter() }
    }

    /// Bytes handed to a reader that may still give them back (see `lend`).
    public struct Loan: Sendable {
        /// The bytes; none means EOF, or that the read was cancelled (then nothing is held).
        /// A slice of the buffer's chunk when they lay within one: written as they are, never
        /// modified (a write to a shared slice would copy it).
        public let bytes: ByteBuffer
        let id: UInt64

        /// The same bytes as Data, for answers encoded as a whole (gRPC; a read that waited).
        /// A copy: Data that wrapped the chunk's storage would write into it if mutated.
        public var data: Data { Data(bytes.readableBytesView) }

        static let empty = Loan(bytes: ByteBuffer(), id: 0)
    }

    /// Up to `maxBytes`, consumed at once, waiting while nothing is buffered and the stream is
    /// open. Empty data means EOF. A read cancelled while waiting returns empty data and takes
    /// nothing: its caller is gone, and the bytes stay for the next read.
    public func read(maxBytes: Int) async -> Data {
        let loan = await lend(maxBytes: maxBytes)
        settle(loan, delivered: true)
        return loan.data
    }

    /// Up to `maxBytes` from the front, left in the buffer until `settle`: consumed when the
    /// caller delivered them, kept for the next read when it could not. Waits like `read`, and
    /// also while another loan is open (a later read must not overtake bytes that may return).
    public func lend(maxBytes: Int) async -> Loan {
        while true {
            if Task.isCancelled { return .empty }
            if let loan = lendNow(maxBytes: maxBytes) { return loan }
            await waitUntilReadable()
        }
    }

    /// `lend` without waiting: the loan when bytes or EOF are there now, nil when a read would
    /// wait. Lets a caller skip the machinery a wait needs (a cancellable task) when it will not.
    public func lendNow(maxBytes: Int) -> Loan? {
        state.withLock { state in
            guard state.lent == 0 else { return nil }
            if state.count > 0 {
                let bytes = state.peek(max(maxBytes, 1))
                state.nextLoanID &+= 1
                if state.nextLoanID == 0 { state.nextLoanID = 1 }
                state.lent = bytes.readableBytes
                state.loanID = state.nextLoanID
                return Loan(bytes: bytes, id: state.nextLoanID)
            }
            if state.finished {
                state.eofDelivered = true
                return .empty
            }
            return nil
        }
    }

    /// Ends `loan`: its bytes are consumed when `delivered`, otherwise they stay at the front for
    /// the next read. A loan of empty data, or one from before `discard`, changes nothing.
    public func settle(_ loan: Loan, delivered: Bool) {
        guard loan.id != 0 else { return }
        var freed = 0
        let (readers, waiters) = state.withLock { state -> ([CheckedContinuation<Void, Never>], [@Sendable () -> Void]) in
            guard state.loanID == loan.id else { return ([], []) }
            if delivered {
                state.drop(state.lent)
                freed = state.lent
            }
            state.lent = 0
            state.loanID = 0
            let readers = state.readers.map(\.continuation)
            state.readers = []
            // Room was freed only if bytes left the buffer; the pump is woken once there is
            // a batch's worth of it.
            let resume = delivered && state.count <= Self.resumeMark
            let waiters = resume ? state.spaceWaiters : []
            if resume { state.spaceWaiters = [] }
            return (readers, waiters)
        }
        budget.remove(freed)
        for reader in readers { reader.resume() }
        for waiter in waiters { waiter() }
    }

    /// Suspends until a read may make progress (bytes, EOF, a loan settled) or the task is cancelled.
    private func waitUntilReadable() async {
        let token = state.withLock { state in
            state.nextToken &+= 1
            return state.nextToken
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state in
                    // Checked under the lock: a cancellation handler that already ran
                    // found nothing to resume.
                    if state.readable || Task.isCancelled { return true }
                    state.readers.append((token, continuation))
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let reader = state.withLock { state in
                state.readers.firstIndex { $0.token == token }.map { state.readers.remove(at: $0) }
            }
            reader?.continuation.resume()
        }
    }
}
