import Cgroups
import ContainerEngine
import GRPCCore
import KataProtocols

// StatsContainer and GetOOMEvent: cgroup usage and OOM notifications.
extension AgentService {
    func statsContainer(request: Grpc_StatsContainerRequest, context: ServerContext) async throws -> Grpc_StatsContainerResponse {
        try await serveRPC("StatsContainer", logger: logger) {
            try RequestValidation.id(request.containerID, field: "container_id")
            let stats = try pod.engine.container(request.containerID).stats()
            var response = Grpc_StatsContainerResponse()
            response.cgroupStats = Self.convert(stats)
            return response
        }
    }

    /// Long poll: the id of the next container whose memory cgroup saw an OOM (queued since
    /// the container was created; a cancelled call takes nothing from the queue).
    func getOOMEvent(request: Grpc_GetOOMEventRequest, context: ServerContext) async throws -> Grpc_OOMEvent {
        try await serveRPC("GetOOMEvent", logger: logger) {
            let events = try pod.oomEvents
            let id = try await cancellableByRPC { try await events.next() }
            var response = Grpc_OOMEvent()
            response.containerID = id
            return response
        }
    }

    static func convert(_ stats: CgroupStats) -> Grpc_CgroupStats {
        var out = Grpc_CgroupStats()
        var cpu = Grpc_CpuStats()
        var usage = Grpc_CpuUsage()
        usage.totalUsage = stats.cpu.totalUsage
        usage.percpuUsage = stats.cpu.perCPUUsage
        usage.usageInKernelmode = stats.cpu.kernelUsage
        usage.usageInUsermode = stats.cpu.userUsage
        cpu.cpuUsage = usage
        var throttling = Grpc_ThrottlingData()
        throttling.periods = stats.cpu.periods
        throttling.throttledPeriods = stats.cpu.throttledPeriods
        throttling.throttledTime = stats.cpu.throttledTime
        cpu.throttlingData = throttling
        out.cpuStats = cpu
        var memory = Grpc_MemoryStats()
        memory.cache = stats.memory.cache
        memory.usage = convert(stats.memory.usage)
        memory.swapUsage = convert(stats.memory.swapUsage)
        memory.kernelUsage = convert(stats.memory.kernelUsage)
        memory.useHierarchy = stats.memory.useHierarchy
        memory.stats = stats.memory.stats
        out.memoryStats = memory
        var pids = Grpc_PidsStats()
        pids.current = stats.pids.current
        pids.limit = stats.pids.limit
        out.pidsStats = pids
        var blkio = Grpc_BlkioStats()
        blkio.ioServiceBytesRecursive = stats.blkio.ioServiceBytesRecursive.map(convert)
        blkio.ioServicedRecursive = stats.blkio.ioServicedRecursive.map(convert)
        out.blkioStats = blkio
        out.hugetlbStats = stats.hugetlb.mapValues { value in
            var entry = Grpc_HugetlbStats()
            entry.usage = value.usage
            entry.maxUsage = value.maxUsage
            entry.failcnt = value.failcnt
            return entry
        }
        return out
    }

    static func convert(_ data: MemoryData) -> Grpc_MemoryData {
        var out = Grpc_MemoryData()
        out.usage = data.usage
        out.maxUsage = data.maxUsage
        out.failcnt = data.failcnt
        out.limit = data.limit
        return out
    }

    static func convert(_ entry: BlkioEntry) -> Grpc_BlkioStatsEntry {
        var out = Grpc_BlkioStatsEntry()
        out.major = entry.major
        out.minor = entry.minor
        out.op = entry.op
        out.value = entry.value
        return out
    }
}
