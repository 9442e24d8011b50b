/*
 * Part of dynapps (src/dynapps/cxx.py): what an abstract class's vtable points its pure virtual
 * functions at. Only a bug calls it (a pure virtual call from a constructor or destructor): it
 * stops at a breakpoint instruction, which panics on the chip and stops the emulator.
 */
void __cxa_pure_virtual(void) { __builtin_trap(); }
