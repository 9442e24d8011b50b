#include <math.h>

double mathlib_distance(double x, double y)
{
    return sqrt(x * x + y * y);
}

double mathlib_angle(double cosine)
{
    return acos(cosine) + atan2(cosine, 2.0);
}

double mathlib_wave(double t)
{
    return cos(t) * exp(-t / 8.0) + sin(2.0 * t) + log(1.0 + t * t);
}

double mathlib_power(double base, double exponent)
{
    return pow(base, exponent) + fabs(fmod(base * 10.0, 3.0));
}

float mathlib_floats(float x)
{
    return sqrtf(x) + cosf(x) + powf(x, 0.75f);
}

double mathlib_rounding(double x)
{
    return floor(x) * 1000.0 + ceil(x) * 100.0 + round(x) * 10.0 + trunc(x);
}
