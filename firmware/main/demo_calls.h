/*
 * The example firmware's calls into the example apps, printed as RESULT lines.
 * Compiled twice: into the firmware (calls go through the generated wrappers into loaded apps)
 * and natively on the host with the apps' own sources (tests/test_run.py compares the two).
 */
#pragma once

/* Call every export of `app` with fixed arguments and print one RESULT line per call.
 * Returns 0, or -1 for an unknown app. */
int demo_call_app(const char *app);
