#include <stdint.h>
#include <string.h>

char greeting[] = "hi"; /* 3 bytes: all of the app's .data */
static uint32_t calls;   /* .bss */

int32_t oddsize_greet(char *out, uint32_t size)
{
    uint32_t length = (uint32_t)strlen(greeting); /* strlen and memcpy: firmware imports */
    if (size <= length) return -1;
    memcpy(out, greeting, length + 1);
    greeting[0] ^= 0x20; /* "hi" -> "Hi" -> "hi": .data is writable */
    return (int32_t)length;
}

uint32_t oddsize_bump(void)
{
    return ++calls;
}
