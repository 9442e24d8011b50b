#include <stdint.h>
#include <string.h>

static const char *const keywords[] = {"alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf"};
#define KEYWORD_COUNT (sizeof keywords / sizeof keywords[0])

int32_t strtab_find(const char *word)
{
    for (uint32_t i = 0; i < KEYWORD_COUNT; i++) {
        if (strstr(keywords[i], word) != NULL) return (int32_t)i;
    }
    return -1;
}

/* Position of the first digit, the last space, and where "lt" occurs, packed. */
int32_t strtab_scan(const char *text)
{
    const char *digit = strpbrk(text, "0123456789");
    const char *space = strrchr(text, ' ');
    const char *found = strstr(text, "lt");
    const char *colon = memchr(text, ':', strlen(text));
    return (int32_t)((digit ? digit - text : 0xFF) | (space ? space - text : 0xFF) << 8 |
                     (found ? found - text : 0xFF) << 16 | (colon ? colon - text : 0x7F) << 24);
}

const char *strtab_name(uint32_t index)
{
    return index < KEYWORD_COUNT ? keywords[index] : "";
}

/* Components of a '/'-separated path and the length of its last one. */
uint32_t strtab_split(const char *path)
{
    uint32_t parts = 0;
    for (const char *p = path; p; p = strchr(p, '/')) {
        p += *p == '/';
        parts += *p != '\0';
    }
    const char *last = strrchr(path, '/');
    return parts << 16 | (uint32_t)strspn(last ? last + 1 : path, "abcdefghijklmnopqrstuvwxyz");
}
