#include <stdint.h>

static double scratch[16]; /* bss */

int64_t stats_sum_div(const int32_t *values, uint32_t count, int64_t divisor)
{
    int64_t sum = 0;
    for (uint32_t i = 0; i < count; i++) sum += (int64_t)values[i] * 1000003;
    return sum / divisor; /* __divdi3 */
}

uint64_t stats_udiv(uint64_t numerator, uint64_t denominator)
{
    return numerator / denominator + numerator % 7; /* __udivdi3, __umoddi3 */
}

double stats_mean(const int32_t *values, uint32_t count)
{
    double sum = 0.0;
    for (uint32_t i = 0; i < count; i++) sum += values[i];
    return count ? sum / count : 0.0;
}

double stats_variance(const int32_t *values, uint32_t count)
{
    double mean = stats_mean(values, count), sum = 0.0;
    for (uint32_t i = 0; i < count; i++) {
        scratch[i % 16] = values[i] - mean;
        sum += scratch[i % 16] * scratch[i % 16];
    }
    return count > 1 ? sum / (count - 1) : 0.0;
}

int32_t stats_percent(int32_t part, int32_t whole)
{
    float ratio = (float)part / (float)whole;
    return (int32_t)(ratio * 100.0f + 0.5f);
}
