/* A line and exit code 5, for the command line. */
#include "emu_test.h"
int main(void) { printf("from cli\n"); return 5; }
