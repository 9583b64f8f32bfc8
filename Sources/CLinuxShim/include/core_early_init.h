#ifndef CLINUXSHIM_CORE_EARLY_INIT_H
#define CLINUXSHIM_CORE_EARLY_INIT_H
/* PID-1 work that must happen before the Swift runtime's own initialisers (see
   core_early_init.c). kata_early_init_done() exists so the agent references this object file:
   a static library member nobody references is dropped by the linker, constructor and all. */
int kata_early_init_done(void);
/* The root switch of an initramfs PID 1 (core_initramfs_root.c): 1 bound and moved over "/",
   2 chrooted into the bind, 0 not needed, -errno failed. */
int kata_initramfs_switch_result(void);

/* CLOCK_BOOTTIME at the process's first constructor (its first code after the exec), in
   microseconds. */
long kata_started_boottime_microseconds(void);

/* How long the initramfs switch took, in microseconds (0 when there was none). */
long kata_initramfs_switch_microseconds(void);
/* Puts a bind mount of an initramfs root over "/" and chroots into it, so containers can pivot_root. */
int kata_switch_initramfs_root(void);
/* After a switch: a read-only bind mount of the running binary at one of its names, for
   container inits to run from without a sealed copy (NULL when there is none). */
const char *kata_initramfs_read_only_exe(void);
#endif
