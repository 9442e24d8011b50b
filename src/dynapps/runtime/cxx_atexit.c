/*
 * Part of dynapps (src/dynapps/cxx.py): linked into a C++ app whose static objects have
 * destructors. g++ registers each such destructor when the object is constructed, with
 * __cxa_atexit(destructor, object, &__dso_handle). An app "exits" when it is unloaded, so the
 * registrations are kept here and run, last first, by this file's .fini_array entry, which the
 * loader calls after the app's deinit; a reload starts with an empty table (zeroed bss).
 *
 * The table is the app's own bss: the linker script reserves one entry per __cxa_atexit call
 * site in the app's objects (each registers once per load: a global's constructor runs once, a
 * function-local static is constructed once). A registration past the end (a local static
 * constructed twice by two tasks racing, see -fno-threadsafe-statics) is refused with -1.
 */
typedef struct {
    void (*destructor)(void *);
    void *object;
} dynapps_registration_t;

/* Defined by the linker script (templates/copy.ld.j2, xip.ld.j2). */
extern dynapps_registration_t __dynapps_atexit_table[], __dynapps_atexit_table_end[];

/* g++ passes its address to identify "this module"; an app is one module, so only the address
 * matters. */
void *__dso_handle;

static unsigned registered;

int __cxa_atexit(void (*destructor)(void *), void *object, void *dso)
{
    (void)dso;
    if (__dynapps_atexit_table + registered >= __dynapps_atexit_table_end) {
        return -1;
    }
    __dynapps_atexit_table[registered].destructor = destructor;
    __dynapps_atexit_table[registered].object = object;
    registered++;
    return 0;
}

__attribute__((destructor)) static void dynapps_run_atexit(void)
{
    while (registered > 0) {
        registered--;
        __dynapps_atexit_table[registered].destructor(__dynapps_atexit_table[registered].object);
    }
}
