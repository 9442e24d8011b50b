#include <stdint.h>

struct pid {
    float kp, ki, kd, limit;
    float integral, previous_error;
};

static struct pid state; /* bss */

void pid_configure(float kp, float ki, float kd, float limit)
{
    state.kp = kp;
    state.ki = ki;
    state.kd = kd;
    state.limit = limit;
    state.integral = 0.0f;
    state.previous_error = 0.0f;
}

static float clamp(float value, float limit)
{
    return value > limit ? limit : value < -limit ? -limit : value;
}

float pid_step(float setpoint, float measured, float dt)
{
    float error = setpoint - measured;
    state.integral = clamp(state.integral + error * dt, state.limit); /* anti-windup */
    float derivative = (error - state.previous_error) / dt;
    state.previous_error = error;
    return clamp(state.kp * error + state.ki * state.integral + state.kd * derivative, state.limit);
}

/* Drive a first-order plant to a set point; returns the final output in milli-units. */
int32_t pid_simulate(uint32_t steps)
{
    float plant = 0.0f;
    for (uint32_t i = 0; i < steps; i++) {
        float drive = pid_step(1.0f, plant, 0.01f);
        plant += (drive - plant) * 0.05f;
    }
    return (int32_t)(plant * 1000.0f);
}
