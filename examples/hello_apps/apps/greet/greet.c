#include <stdio.h>

void greet(const char *name)
{
    printf("hello, %s, from an app\n", name);
}
