import Glibc

// The command runs in a detached task while the main thread only waits. With `@main`, Swift's
// async entry point ends the main thread through dispatch_main's pthread_exit, whose forced
// unwind makes libgcc sort this static binary's whole .eh_frame first: about 10 ms and 5 MB on
// every invocation. Top-level code is main-actor isolated, hence detached (nothing here needs
// the main actor). ArgumentParser exits by itself on errors; success exits here.
Task.detached {
    await KataAgentCtl.main()
    exit(0)
}
while true { pause() }
