/*
 * Part of dynapps (src/dynapps/cxx.py): the global operator new and delete of a C++ app, on the
 * firmware's malloc and free (imported like any firmware function: the app's heap is the
 * firmware's). Linked only into an app that uses them. Without exceptions a failed new can't
 * throw std::bad_alloc: it returns NULL, and as apps are compiled with -fcheck-new, the
 * new-expression then constructs nothing and yields NULL.
 *
 * The names are the Itanium C++ ABI's for ilp32 (size_t is unsigned int, "j").
 */
#include <stddef.h>

void *malloc(size_t size);
void free(void *pointer);

void *_Znwj(size_t size) { return malloc(size); }                   /* operator new(size_t) */
void *_Znaj(size_t size) { return malloc(size); }                   /* operator new[](size_t) */
void _ZdlPv(void *pointer) { free(pointer); }                       /* operator delete(void *) */
void _ZdaPv(void *pointer) { free(pointer); }                       /* operator delete[](void *) */
void _ZdlPvj(void *pointer, size_t size) { (void)size; free(pointer); } /* sized delete */
void _ZdaPvj(void *pointer, size_t size) { (void)size; free(pointer); } /* sized delete[] */
