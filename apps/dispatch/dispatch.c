#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef int32_t (*handler_t)(int32_t);

static int32_t twice(int32_t x) { return 2 * x; }
static int32_t square(int32_t x) { return x * x; }
static int32_t negate(int32_t x) { return -x; }
static int32_t cube(int32_t x) { return x * x * x; }

/* Pointers in initialised data: names (string table) and handlers (function pointers). */
struct command {
    const char *name;
    handler_t handler;
};

static const struct command commands[] = {
    {"twice", twice},
    {"square", square},
    {"negate", negate},
    {"cube", cube},
};

static const char *const greetings[] = {"hello", "bonjour", "hallo", "hola"};

static int32_t calls; /* bss */
static int32_t initialised = -1; /* data */

int dispatch_init(void)
{
    initialised = 1;
    calls = 0;
    printf("dispatch: init, %d commands\n", (int)(sizeof commands / sizeof commands[0]));
    return 0;
}

void dispatch_deinit(void)
{
    printf("dispatch: deinit after %ld calls\n", (long)calls);
}

int32_t dispatch_run(const char *command, int32_t argument)
{
    calls++;
    for (uint32_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(commands[i].name, command) == 0) return commands[i].handler(argument) * initialised;
    }
    printf("dispatch: unknown command '%s'\n", command);
    return -1;
}

int32_t dispatch_each(void (*visit)(const char *name, int32_t value, void *context), void *context)
{
    int32_t total = 0;
    for (uint32_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        int32_t value = commands[i].handler((int32_t)i + 3);
        visit(commands[i].name, value, context);
        total += value;
    }
    return total;
}

/* Dense cases that each compute something different: GCC emits a jump table. */
int32_t dispatch_classify(int32_t code)
{
    int32_t x = calls + 7;
    switch (code) {
    case 0: return x * 3 + 1;
    case 1: return x ^ 0x5A5A;
    case 2: return (x << 4) - code;
    case 3: return x / 3;
    case 4: return x % 11 + 40;
    case 5: return twice(x) + square(code);
    case 6: return (int32_t)strlen(greetings[x & 3]) * 1000;
    case 7: return negate(x) - 77;
    case 8: return cube(code - x);
    default: return -1;
    }
}

const char *dispatch_name(uint32_t index)
{
    return greetings[index % (sizeof greetings / sizeof greetings[0])];
}
