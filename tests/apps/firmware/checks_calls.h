/* The test apps' calls, shared by the emulator firmware and the host reference. */
#pragma once

/* Call every export of `app` with fixed arguments, one RESULT line per call. -1: unknown app. */
int checks_call_app(const char *app);
