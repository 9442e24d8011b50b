#include <ctype.h>
#include <stdint.h>

/* Digits, letters, spaces, punctuation: one byte each of the result. */
uint32_t ctypes_classes(const char *text)
{
    uint32_t digits = 0, letters = 0, spaces = 0, punctuation = 0;
    for (; *text; text++) {
        int c = (unsigned char)*text;
        digits += isdigit(c) != 0;
        letters += isalpha(c) != 0;
        spaces += isspace(c) != 0;
        punctuation += ispunct(c) != 0;
    }
    return digits | letters << 8 | spaces << 16 | punctuation << 24;
}

/* A signed decimal number after leading blanks, by hand: isspace, isdigit. */
int32_t ctypes_parse(const char *text)
{
    while (isspace((unsigned char)*text)) text++;
    int32_t sign = *text == '-' ? -1 : 1;
    if (*text == '-' || *text == '+') text++;
    int32_t value = 0;
    while (isdigit((unsigned char)*text)) value = value * 10 + (*text++ - '0');
    return sign * value;
}

/* Upper-case `text` in place; returns how many letters changed. */
int32_t ctypes_upper(char *text)
{
    int32_t changed = 0;
    for (; *text; text++) {
        int upper = toupper((unsigned char)*text);
        changed += upper != *text;
        *text = (char)upper;
    }
    return changed;
}
