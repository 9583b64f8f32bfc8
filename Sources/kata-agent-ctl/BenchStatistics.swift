/// Percentiles of per-call latencies, in microseconds, as `bench health` prints them.
///
/// A percentile is the nearest-rank sample at round(p/100 * (n-1)) of the sorted samples,
/// the same rule as bench/benchlib.py's Series.percentile, so both clients' figures compare.
struct LatencySummary: Encodable, Equatable {
    let calls: Int
    let p50Us: Double
    let p99Us: Double
    let minUs: Double
    let maxUs: Double
    let meanUs: Double

    enum CodingKeys: String, CodingKey {
        case calls
        case p50Us = "p50_us", p99Us = "p99_us", minUs = "min_us", maxUs = "max_us", meanUs = "mean_us"
    }

    /// Nil when there are no samples.
    init?(_ samples: [Duration]) {
        guard !samples.isEmpty else { return nil }
        let sorted = samples.map(Self.microseconds).sorted()
        calls = sorted.count
        p50Us = Self.percentile(50, of: sorted)
        p99Us = Self.percentile(99, of: sorted)
        minUs = sorted[0]
        maxUs = sorted[sorted.count - 1]
        meanUs = Self.rounded(sorted.reduce(0, +) / Double(sorted.count))
    }

    /// `sorted` must be ascending and non-empty.
    static func percentile(_ p: Double, of sorted: [Double]) -> Double {
        let rank = (p / 100 * Double(sorted.count - 1)).rounded()
        return sorted[max(0, min(sorted.count - 1, Int(rank)))]
    }

    /// Whole nanoseconds as microseconds, to three decimals (the clock's resolution).
    static func microseconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        let nanoseconds = Double(seconds) * 1e9 + Double(attoseconds / 1_000_000_000)
        return rounded(nanoseconds / 1000)
    }

    private static func rounded(_ value: Double) -> Double { (value * 1000).rounded() / 1000 }
}

/// What `bench read-stdout` prints: bytes read, ReadStdout calls made (the EOF one included),
/// the time from the first request to EOF, and the rate in MiB/s.
struct ThroughputResult: Encodable, Equatable {
    let bytes: Int
    let reads: Int
    let seconds: Double
    let mibPerS: Double

    enum CodingKeys: String, CodingKey {
        case bytes, reads, seconds
        case mibPerS = "mib_per_s"
    }

    init(bytes: Int, reads: Int, elapsed: Duration) {
        self.bytes = bytes
        self.reads = reads
        let (whole, attoseconds) = elapsed.components
        seconds = Double(whole) + Double(attoseconds) / 1e18
        mibPerS = seconds > 0 ? Double(bytes) / 1_048_576 / seconds : 0
    }
}
