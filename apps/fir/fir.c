#include <stdint.h>

#define TAPS 63

/* Q15 windowed-sinc low-pass coefficients (cut-off fs/8), symmetric. */
static const int16_t coefficients[TAPS] = {
    -12, -18, -24, -27, -24, -11, 14, 51, 97, 143, 178, 187, 156, 74, -61, -238, -436, -619,
    -745, -763, -628, -306, 218, 932, 1808, 2796, 3830, 4835, 5730, 6441, 6906, 7068, 6906,
    6441, 5730, 4835, 3830, 2796, 1808, 932, 218, -306, -628, -763, -745, -619, -436, -238,
    -61, 74, 156, 187, 178, 143, 97, 51, 14, -11, -24, -27, -24, -18, -12,
};

/* A quarter-wave sine table, Q15, 4096 entries: the large const table that pushes this app to XIP. */
#define SINE_ENTRIES 4096
static const int16_t sine_quarter[SINE_ENTRIES] = {
#include "sine_table.inc"
};

static int16_t history[TAPS]; /* bss: the delay line */
static uint32_t head;

static int16_t saturate(int32_t value)
{
    if (value > 32767) return 32767;
    if (value < -32768) return -32768;
    return (int16_t)value;
}

int32_t fir_filter(const int16_t *input, int16_t *output, uint32_t count)
{
    int32_t energy = 0;
    for (uint32_t n = 0; n < count; n++) {
        history[head] = input[n];
        int32_t acc = 0;
        uint32_t index = head;
        for (uint32_t k = 0; k < TAPS; k++) {
            acc += (int32_t)coefficients[k] * history[index];
            index = index == 0 ? TAPS - 1 : index - 1;
        }
        head = head + 1 == TAPS ? 0 : head + 1;
        output[n] = saturate(acc >> 15);
        energy += output[n] < 0 ? -output[n] : output[n];
    }
    return energy;
}

static int32_t sine(uint32_t phase) /* phase: 0..16383 for one full turn */
{
    uint32_t quarter = (phase >> 12) & 3, index = phase & (SINE_ENTRIES - 1);
    switch (quarter) {
    case 0: return sine_quarter[index];
    case 1: return sine_quarter[SINE_ENTRIES - 1 - index];
    case 2: return -sine_quarter[index];
    default: return -sine_quarter[SINE_ENTRIES - 1 - index];
    }
}

int32_t fir_sine_sum(uint32_t step, uint32_t count)
{
    int32_t sum = 0;
    for (uint32_t i = 0; i < count; i++) sum += sine(i * step) >> 4;
    return sum;
}

uint32_t fir_taps(void) { return TAPS; }
