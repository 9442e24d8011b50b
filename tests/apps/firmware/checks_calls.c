/*
 * Calls into the test apps (tests/apps/), printed as RESULT lines. Compiled into the emulator
 * firmware (through the generated wrappers into loaded apps) and natively with the apps' own
 * sources (tests/test_link_apps.py compares the two).
 */
#include "checks_calls.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "checks_apps.h"

static inline void result_int(const char *app, const char *call, int64_t value)
{
    printf("RESULT %s %s i %lld\n", app, call, (long long)value);
}

static inline void result_double(const char *app, const char *call, double value)
{
    uint64_t bits;
    memcpy(&bits, &value, sizeof bits);
    printf("RESULT %s %s d %016llx\n", app, call, (unsigned long long)bits);
}

static inline void result_float(const char *app, const char *call, float value)
{
    uint32_t bits;
    memcpy(&bits, &value, sizeof bits);
    printf("RESULT %s %s f %08lx\n", app, call, (unsigned long)bits);
}

static inline void result_text(const char *app, const char *call, const char *text)
{
    printf("RESULT %s %s s %s\n", app, call, text);
}

#if HAVE_ODDSIZE
static void call_oddsize(void)
{
    static const char *const rounds[][2] = {{"oddsize_greet.1", "oddsize_greet.1.out"},
                                            {"oddsize_greet.2", "oddsize_greet.2.out"},
                                            {"oddsize_greet.3", "oddsize_greet.3.out"}};
    char out[8];
    for (int i = 0; i < 3; i++) { /* .data is written back each time: "hi", "Hi", "hi" */
        result_int("oddsize", rounds[i][0], oddsize_greet(out, sizeof out));
        result_text("oddsize", rounds[i][1], out);
    }
    result_int("oddsize", "oddsize_greet.small", oddsize_greet(out, 2));
    oddsize_bump();
    result_int("oddsize", "oddsize_bump", oddsize_bump());
}
#endif

#if HAVE_CTYPES
static void call_ctypes(void)
{
    result_int("ctypes", "ctypes_classes", ctypes_classes("Order 66: 12 ships, 3 moons!\t~ok~"));
    result_int("ctypes", "ctypes_parse", ctypes_parse(" \t\n-40213xyz"));
    result_int("ctypes", "ctypes_parse.plus", ctypes_parse("+77"));
    char text[] = "mixed Case text 42, ok?";
    result_int("ctypes", "ctypes_upper", ctypes_upper(text));
    result_text("ctypes", "ctypes_upper.text", text);
}
#endif

#if HAVE_MATHLIB
static void call_mathlib(void)
{
    result_double("mathlib", "mathlib_distance", mathlib_distance(3.0, 4.5));
    result_double("mathlib", "mathlib_angle", mathlib_angle(0.3));
    result_double("mathlib", "mathlib_angle.neg", mathlib_angle(-0.875));
    result_double("mathlib", "mathlib_wave", mathlib_wave(2.75));
    result_double("mathlib", "mathlib_power", mathlib_power(1.7, 3.3));
    result_float("mathlib", "mathlib_floats", mathlib_floats(2.5f));
    result_double("mathlib", "mathlib_rounding", mathlib_rounding(-2.5));
    result_double("mathlib", "mathlib_rounding.pos", mathlib_rounding(7.49));
}
#endif

#if HAVE_STRTAB
static void call_strtab(void)
{
    result_int("strtab", "strtab_find.ar", strtab_find("ar"));
    result_int("strtab", "strtab_find.ol", strtab_find("ol"));
    result_int("strtab", "strtab_find.none", strtab_find("zulu"));
    result_int("strtab", "strtab_scan", strtab_scan("delta team: 7 boats ready"));
    result_int("strtab", "strtab_scan.none", strtab_scan("nothing"));
    result_text("strtab", "strtab_name", strtab_name(5));
    result_text("strtab", "strtab_name.out", strtab_name(70));
    result_int("strtab", "strtab_split", strtab_split("/usr/lib/picolibc"));
    result_int("strtab", "strtab_split.flat", strtab_split("plain"));
}
#endif

#if HAVE_ASMFN
static void call_asmfn(void)
{
    static const int32_t a[] = {3, -7, 11, 1000, -32768, 5};
    static const int32_t b[] = {9, 4, -2, 70000, 3, 12};
    result_int("asmfn", "asmfn_dot", asmfn_dot(a, b, 6));
    result_int("asmfn", "asmfn_dot.empty", asmfn_dot(a, b, 0));
}
#endif

int checks_call_app(const char *app)
{
    static const struct {
        const char *name;
        void (*call)(void);
    } calls[] = {
#if HAVE_ASMFN
        {"asmfn", call_asmfn},
#endif
#if HAVE_CTYPES
        {"ctypes", call_ctypes},
#endif
#if HAVE_MATHLIB
        {"mathlib", call_mathlib},
#endif
#if HAVE_ODDSIZE
        {"oddsize", call_oddsize},
#endif
#if HAVE_STRTAB
        {"strtab", call_strtab},
#endif
    };
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
        if (strcmp(calls[i].name, app) == 0) {
            calls[i].call();
            return 0;
        }
    }
    return -1;
}
