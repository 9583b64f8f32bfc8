/// Kernel constants Glibc's Swift module does not import (macros in sched.h / prctl.h).
enum LinuxConstants {
    static let cloneNewNS: Int32 = 0x0002_0000
    static let cloneNewCgroup: Int32 = 0x0200_0000
    static let cloneNewUTS: Int32 = 0x0400_0000
    static let cloneNewIPC: Int32 = 0x0800_0000
    static let cloneNewUser: Int32 = 0x1000_0000
    static let cloneNewPID: Int32 = 0x2000_0000
    static let cloneNewNet: Int32 = 0x4000_0000
    static let cloneNewTime: Int32 = 0x80
    static let prSetDumpable: Int32 = 4
    static let prSetKeepCaps: Int32 = 8
    static let prSetNoNewPrivs: Int32 = 38
}
