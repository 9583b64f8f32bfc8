#ifndef CLINUXSHIM_CORE_EARLY_INIT_H
#define CLINUXSHIM_CORE_EARLY_INIT_H
/* PID-1 work that must happen before the Swift runtime's own initialisers (see
   core_early_init.c). kata_early_init_done() exists so the agent references this object file:
   a static library member nobody references is dropped by the linker, constructor and all. */
int kata_early_init_done(void);
#endif
