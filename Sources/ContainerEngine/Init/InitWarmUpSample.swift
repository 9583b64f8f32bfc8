extension InitWarmUp {
    /// A create-mode message as the agent sends it (InitConfig.forInit: no process, resources,
    /// id maps or annotations in the spec), from runc's default spec plus hooks, devices,
    /// sysctls, seccomp and a bind mount.
    static let sampleJSON = #"""
{
 "kind": "config",
 "config": {
  "mode": "create",
  "containerID": "warm-up",
  "process": {
   "terminal": true,
   "user": {
    "uid": 0,
    "gid": 0,
    "additionalGids": [
     10,
     20
    ]
   },
   "args": [
    "sh"
   ],
   "env": [
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "TERM=xterm"
   ],
   "cwd": "/",
   "capabilities": {
    "bounding": [
     "CAP_AUDIT_WRITE",
     "CAP_KILL",
     "CAP_NET_BIND_SERVICE"
    ],
    "effective": [
     "CAP_AUDIT_WRITE",
     "CAP_KILL",
     "CAP_NET_BIND_SERVICE"
    ],
    "permitted": [
     "CAP_AUDIT_WRITE",
     "CAP_KILL",
     "CAP_NET_BIND_SERVICE"
    ],
    "ambient": [
     "CAP_AUDIT_WRITE",
     "CAP_KILL",
     "CAP_NET_BIND_SERVICE"
    ]
   },
   "rlimits": [
    {
     "type": "RLIMIT_NOFILE",
     "hard": 1024,
     "soft": 1024
    },
    {
     "type": "RLIMIT_NPROC",
     "hard": 4096,
     "soft": 4096
    }
   ],
   "noNewPrivileges": true,
   "consoleSize": {
    "height": 24,
    "width": 80
   },
   "oomScoreAdj": 100,
   "apparmorProfile": "unconfined"
  },
  "spec": {
   "ociVersion": "1.0.2-dev",
   "root": {
    "path": "rootfs",
    "readonly": true
   },
   "hostname": "runc",
   "mounts": [
    {
     "destination": "/proc",
     "type": "proc",
     "source": "proc"
    },
    {
     "destination": "/dev",
     "type": "tmpfs",
     "source": "tmpfs",
     "options": [
      "nosuid",
      "strictatime",
      "mode=755",
      "size=65536k"
     ]
    },
    {
     "destination": "/dev/pts",
     "type": "devpts",
     "source": "devpts",
     "options": [
      "nosuid",
      "noexec",
      "newinstance",
      "ptmxmode=0666",
      "mode=0620",
      "gid=5"
     ]
    },
    {
     "destination": "/dev/shm",
     "type": "tmpfs",
     "source": "shm",
     "options": [
      "nosuid",
      "noexec",
      "nodev",
      "mode=1777",
      "size=65536k"
     ]
    },
    {
     "destination": "/dev/mqueue",
     "type": "mqueue",
     "source": "mqueue",
     "options": [
      "nosuid",
      "noexec",
      "nodev"
     ]
    },
    {
     "destination": "/sys",
     "type": "sysfs",
     "source": "sysfs",
     "options": [
      "nosuid",
      "noexec",
      "nodev",
      "ro"
     ]
    },
    {
     "destination": "/sys/fs/cgroup",
     "type": "cgroup",
     "source": "cgroup",
     "options": [
      "nosuid",
      "noexec",
      "nodev",
      "relatime",
      "ro"
     ]
    },
    {
     "destination": "/data",
     "type": "bind",
     "source": "/tmp",
     "options": [
      "rbind",
      "ro",
      "nosuid",
      "nodev",
      "rprivate"
     ]
    }
   ],
   "linux": {
    "namespaces": [
     {
      "type": "pid"
     },
     {
      "type": "network"
     },
     {
      "type": "ipc"
     },
     {
      "type": "uts"
     },
     {
      "type": "mount"
     },
     {
      "type": "cgroup"
     }
    ],
    "maskedPaths": [
     "/proc/acpi",
     "/proc/asound",
     "/proc/kcore",
     "/proc/keys",
     "/proc/latency_stats",
     "/proc/timer_list",
     "/proc/timer_stats",
     "/proc/sched_debug",
     "/sys/firmware",
     "/proc/scsi"
    ],
    "readonlyPaths": [
     "/proc/bus",
     "/proc/fs",
     "/proc/irq",
     "/proc/sys",
     "/proc/sysrq-trigger"
    ],
    "devices": [
     {
      "path": "/dev/fuse",
      "type": "c",
      "major": 10,
      "minor": 229,
      "fileMode": 438,
      "uid": 0,
      "gid": 0
     }
    ],
    "sysctl": {
     "net.ipv4.ip_forward": "1"
    },
    "rootfsPropagation": "rslave",
    "seccomp": {
     "defaultAction": "SCMP_ACT_ERRNO",
     "defaultErrnoRet": 1,
     "architectures": [
      "SCMP_ARCH_X86_64"
     ],
     "syscalls": [
      {
       "names": [
        "read",
        "write",
        "exit_group"
       ],
       "action": "SCMP_ACT_ALLOW"
      },
      {
       "names": [
        "personality"
       ],
       "action": "SCMP_ACT_ALLOW",
       "args": [
        {
         "index": 0,
         "value": 8,
         "valueTwo": 0,
         "op": "SCMP_CMP_EQ"
        }
       ]
      }
     ]
    }
   },
   "hooks": {
    "createContainer": [
     {
      "path": "/bin/true",
      "args": [
       "true"
      ],
      "env": [
       "A=1"
      ],
      "timeout": 5
     }
    ],
    "startContainer": [
     {
      "path": "/bin/true"
     }
    ]
   }
  },
  "rootfs": "/run/kata-containers/warm-up/rootfs",
  "joinNamespaces": [
   {
    "type": "ipc",
    "path": "/run/sandbox-ns/ipc"
   }
  ],
  "inNewUserNamespace": false,
  "unshareCgroup": true,
  "newPidNamespace": true,
  "cgroupUnifiedOnly": false,
  "cgroupPath": "/kata/warm-up"
 },
 "state": {
  "ociVersion": "1.0.2",
  "id": "warm-up",
  "status": "creating",
  "pid": 42,
  "bundle": "/run/kata-containers/warm-up",
  "annotations": {
   "a": "b"
  }
 }
}
"""#
}
