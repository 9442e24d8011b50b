/* Which test apps this project has: a test may build only some of them. Each app's generated
 * wrapper header exists only if the app does. */
#pragma once

#if __has_include("dynapps_asmfn.h")
#include "dynapps_asmfn.h"
#define HAVE_ASMFN 1
#endif
#if __has_include("dynapps_ctypes.h")
#include "dynapps_ctypes.h"
#define HAVE_CTYPES 1
#endif
#if __has_include("dynapps_mathlib.h")
#include "dynapps_mathlib.h"
#define HAVE_MATHLIB 1
#endif
#if __has_include("dynapps_oddsize.h")
#include "dynapps_oddsize.h"
#define HAVE_ODDSIZE 1
#endif
#if __has_include("dynapps_strtab.h")
#include "dynapps_strtab.h"
#define HAVE_STRTAB 1
#endif
