#include "demo_calls.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "dynapps_abi.h"
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

/* The calling contract: every type class, with the edge values of each. */
static int64_t combine(int64_t a, int32_t b, void *context)
{
    int64_t *calls = context;
    (*calls)++;
    return a * b + *calls;
}

static float float_from_bits(uint32_t bits)
{
    float value;
    memcpy(&value, &bits, sizeof value);
    return value;
}

static double double_from_bits(uint64_t bits)
{
    double value;
    memcpy(&value, &bits, sizeof value);
    return value;
}

static void call_abi_scalars(void)
{
    result_int("abi", "i8", abi_i8(INT8_MIN, 1));
    result_uint("abi", "u8", abi_u8(UINT8_MAX, 2));
    result_int("abi", "i16", abi_i16(INT16_MIN + 7, INT16_MAX));
    result_uint("abi", "u16", abi_u16(UINT16_MAX, 0x1234));
    result_int("abi", "i32", abi_i32(INT32_MIN, -3));
    result_uint("abi", "u32", abi_u32(UINT32_MAX, 17));
    result_int("abi", "i64.min", abi_i64(INT64_MIN, INT64_MAX));
    result_int("abi", "i64.max", abi_i64(INT64_MAX, INT64_MIN));
    result_uint("abi", "u64.max", abi_u64(UINT64_MAX, 0x100000001ull));
    result_uint("abi", "u64.zero", abi_u64(0, UINT64_MAX));
    result_int("abi", "mixed", abi_mixed(-128, INT64_MIN / 4, -32768, INT64_MAX / 8, INT32_MIN, UINT64_MAX, 255));
    result_int("abi", "bool.tf", abi_bool(true, false));
    result_int("abi", "bool.tt", abi_bool(true, true));
    result_int("abi", "enum.red", abi_enum(ABI_RED));
    result_int("abi", "enum.blue", abi_enum(ABI_BLUE));
}

static void call_abi_floats(void)
{
    const float subnormal_f = float_from_bits(0x00000001u), nan_f = float_from_bits(0x7fc00001u);
    const double subnormal_d = double_from_bits(1), nan_d = double_from_bits(0x7ff8000000000123ull);
    result_float("abi", "f32", abi_f32(1.5f, -2.25f));
    result_float("abi", "f32.subnormal", abi_f32(subnormal_f, 3.0f));
    result_float("abi", "f32.inf", abi_f32(INFINITY, 2.0f));
    result_float("abi", "f32.nan", abi_f32(nan_f, 1.0f));
    result_float("abi", "f32.id.nan", abi_f32_identity(nan_f));
    result_float("abi", "f32.id.subnormal", abi_f32_identity(subnormal_f));
    result_float("abi", "f32.id.-inf", abi_f32_identity(-INFINITY));
    result_double("abi", "f64", abi_f64(1e300, 1e10));
    result_double("abi", "f64.subnormal", abi_f64(subnormal_d, 0.5));
    result_double("abi", "f64.-inf", abi_f64(-INFINITY, 3.0));
    result_double("abi", "f64.id.nan", abi_f64_identity(nan_d));
    result_double("abi", "f64.id.subnormal", abi_f64_identity(subnormal_d));
    result_double("abi", "fp_many", abi_fp_many(1.0, 2.0f, 3.0, 4.0f, 5.0, 6.0f, 7.0, 8.0f, 9.0, 10.0f));
}

static void call_abi_memory(void)
{
    static const int32_t values[] = {5, -7, 1 << 30, 3};
    static const char *const names[] = {"zero", "one", "two"};
    int32_t filled[6];
    result_uint("abi", "sum", abi_sum(values, 4));
    abi_fill(filled, 6, -9);
    result_int("abi", "fill", (int64_t)filled[0] + filled[3] * 1000 + filled[5] * 1000000);
    printf("RESULT abi pick s %s\n", abi_pick(names, 3, 7));
    int64_t calls = 0;
    result_int("abi", "callback", abi_callback(combine, INT64_MIN / 3, -5, &calls));
    result_int("abi", "callback.calls", calls);
}

static void call_abi_aggregates(void)
{
    abi_s1_t s1 = abi_s1((abi_s1_t){254});
    abi_s2_t s2 = abi_s2((abi_s2_t){200, -128});
    abi_s3_t s3 = abi_s3((abi_s3_t){1, 2, 3});
    abi_s8_t s8 = abi_s8((abi_s8_t){INT32_MIN, 2.5f}, (abi_s8_t){1, -4.0f});
    abi_s12_t s12 = abi_s12((abi_s12_t){INT16_MIN, 255, INT32_MAX, 1e-40f});
    abi_s24_t s24 = abi_s24((abi_s24_t){1.25, INT64_MIN, 0xDEADBEEFu, -100},
                            (abi_s24_t){-0.75, -1, 0x0F0F0F0Fu, 27});
    abi_u4_t u4 = abi_u4((abi_u4_t){.f = 3.5f});
    result_uint("abi", "s1", s1.a);
    result_int("abi", "s2", s2.a * 1000 + s2.b);
    result_int("abi", "s3", s3.a * 10000 + s3.b * 100 + s3.c);
    result_int("abi", "s8.i", s8.i);
    result_float("abi", "s8.f", s8.f);
    result_int("abi", "s12.ints", s12.h * 1000 + s12.b + (int64_t)s12.i * 100000);
    result_float("abi", "s12.f", s12.f);
    result_double("abi", "s24.d", s24.d);
    result_int("abi", "s24.l", s24.l);
    result_uint("abi", "s24.u", s24.u);
    result_int("abi", "s24.c", s24.c);
    result_float("abi", "u4", u4.f);
}

static void call_abi(void)
{
    call_abi_scalars();
    call_abi_floats();
    call_abi_memory();
    call_abi_aggregates();
}

int demo_call_app(const char *app)
{
    static const struct {
        const char *name;
        void (*call)(void);
    } apps[] = {
        {"abi", call_abi}, {"crc", call_crc}, {"dispatch", call_dispatch}, {"fir", call_fir}, {"pid", call_pid}, {"stats", call_stats},
    };
    for (size_t i = 0; i < sizeof apps / sizeof apps[0]; i++) {
        if (strcmp(apps[i].name, app) == 0) {
            apps[i].call();
            return 0;
        }
    }
    return -1;
}
