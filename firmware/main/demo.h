#pragma once

/* Load every example app, call its exports, print what each returns, where it runs and the RAM
 * it holds, then unload them all. Returns the number of failures (0: all good). */
int dynapps_demo(void);
