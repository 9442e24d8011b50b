#include "demo_calls.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "dynapps_crc.h"
#include "dynapps_dispatch.h"
#include "dynapps_fir.h"
#include "dynapps_pid.h"
#include "dynapps_stats.h"

/* Results are printed exactly: integers in decimal, floats and doubles as their bit patterns. */
static void result_int(const char *app, const char *call, int64_t value)
{
    printf("RESULT %s %s i %lld\n", app, call, (long long)value);
}

static void result_uint(const char *app, const char *call, uint64_t value)
{
    printf("RESULT %s %s u %llu\n", app, call, (unsigned long long)value);
}

static void result_float(const char *app, const char *call, float value)
{
    uint32_t bits;
    memcpy(&bits, &value, sizeof bits);
    printf("RESULT %s %s f %08lx\n", app, call, (unsigned long)bits);
}

static void result_double(const char *app, const char *call, double value)
{
    uint64_t bits;
    memcpy(&bits, &value, sizeof bits);
    printf("RESULT %s %s d %016llx\n", app, call, (unsigned long long)bits);
}

static void call_fir(void)
{
    int16_t input[96], output[96];
    for (int i = 0; i < 96; i++) input[i] = (int16_t)((i % 16 < 8 ? 12000 : -12000) + 37 * i);
    result_int("fir", "fir_filter", fir_filter(input, output, 96));
    result_int("fir", "fir_filter.out", output[95]);
    result_int("fir", "fir_sine_sum", fir_sine_sum(97, 300));
    result_uint("fir", "fir_taps", fir_taps());
}

static void call_pid(void)
{
    pid_configure(2.5f, 0.8f, 0.05f, 10.0f);
    result_float("pid", "pid_step", pid_step(1.0f, 0.25f, 0.01f));
    pid_configure(1.2f, 3.0f, 0.01f, 5.0f);
    result_int("pid", "pid_simulate", pid_simulate(400));
}

/* The firmware callback the app calls: dispatch_each() visits every command. */
static void visit(const char *name, int32_t value, void *context)
{
    int32_t *sum = context;
    *sum += value * (int32_t)strlen(name);
    printf("VISIT %s %ld\n", name, (long)value);
}

static void call_dispatch(void)
{
    result_int("dispatch", "dispatch_run.square", dispatch_run("square", 12));
    result_int("dispatch", "dispatch_run.cube", dispatch_run("cube", -7));
    result_int("dispatch", "dispatch_run.unknown", dispatch_run("divide", 1));
    int32_t weighted = 0;
    result_int("dispatch", "dispatch_each", dispatch_each(visit, &weighted));
    result_int("dispatch", "dispatch_each.context", weighted);
    for (int32_t code = 0; code <= 9; code++) {
        char call[32];
        snprintf(call, sizeof call, "dispatch_classify.%ld", (long)code);
        result_int("dispatch", call, dispatch_classify(code));
    }
    printf("RESULT dispatch dispatch_name s %s %s\n", dispatch_name(1), dispatch_name(6));
}

static void call_stats(void)
{
    static const int32_t values[] = {1200, -340, 56000, 78, -9100, 4444, 31337, -27, 8, 640000};
    const uint32_t count = sizeof values / sizeof values[0];
    result_int("stats", "stats_sum_div", stats_sum_div(values, count, -7777));
    result_uint("stats", "stats_udiv", stats_udiv(0xFEDCBA9876543210ull, 1000003ull));
    result_double("stats", "stats_mean", stats_mean(values, count));
    result_double("stats", "stats_variance", stats_variance(values, count));
    result_int("stats", "stats_percent", stats_percent(37, 91));
}

static void call_crc(void)
{
    static const uint8_t text[] = "The quick brown fox jumps over the lazy dog";
    uint8_t copy[sizeof text];
    result_uint("crc", "crc32_compute", crc32_compute(text, sizeof text - 1));
    result_uint("crc", "crc32_copy_and_compute", crc32_copy_and_compute(copy, text, sizeof text - 1));
    result_int("crc", "copy_matches", memcmp(copy, text, sizeof text - 1) == 0);
}

int demo_call_app(const char *app)
{
    static const struct {
        const char *name;
        void (*call)(void);
    } apps[] = {
        {"crc", call_crc}, {"dispatch", call_dispatch}, {"fir", call_fir}, {"pid", call_pid}, {"stats", call_stats},
    };
    for (size_t i = 0; i < sizeof apps / sizeof apps[0]; i++) {
        if (strcmp(apps[i].name, app) == 0) {
            apps[i].call();
            return 0;
        }
    }
    return -1;
}
