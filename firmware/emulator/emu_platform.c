/*
 * Emulator firmware platform: picolibc's stdio on the emulator UART, _exit() through the
 * control block, abort() / signals, dynapps_emu_panic(), and word-wise memcpy / memset.
 *
 * Debian 12's picolibc (1.8) uses tinystdio: the application defines the three streams as
 * `FILE *const stdin/stdout/stderr`, each a FILE set up with FDEV_SETUP_STREAM(put, get, flush).
 * The stream is unbuffered: every character goes straight to the UART TX FIFO register.
 */
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "dynapps_emu.h"

static int emu_uart_put(char c, FILE *stream)
{
    (void)stream;
    dynapps_emu_uart_putc(c);
    return (unsigned char)c;
}

static FILE emu_uart_stream = FDEV_SETUP_STREAM(emu_uart_put, NULL, NULL, _FDEV_SETUP_WRITE);

FILE *const stdin = &emu_uart_stream;
FILE *const stdout = &emu_uart_stream;
FILE *const stderr = &emu_uart_stream;

void _exit(int code)
{
    dynapps_emu_exit(code);
}

static void emu_uart_puts(const char *text)
{
    for (const char *p = text; p && *p; p++) {
        dynapps_emu_uart_putc(*p);
    }
}

/* picolibc's raise() ends here: no processes, so a signal stops the machine with 128 + signal. */
pid_t getpid(void)
{
    return 1;
}

int kill(pid_t pid, int signal)
{
    (void)pid;
    emu_uart_puts("\nsignal ");
    dynapps_emu_uart_putc((char)('0' + (signal / 10) % 10));
    dynapps_emu_uart_putc((char)('0' + signal % 10));
    dynapps_emu_uart_putc('\n');
    dynapps_emu_exit(DYNAPPS_EMU_EXIT_SIGNAL_BASE + signal);
}

void abort(void)
{
    emu_uart_puts("\nabort()\n");
    dynapps_emu_exit(DYNAPPS_EMU_EXIT_SIGNAL_BASE + 6); /* SIGABRT */
}

void dynapps_emu_panic(const char *message)
{
    emu_uart_puts("\npanic: ");
    emu_uart_puts(message);
    dynapps_emu_uart_putc('\n');
    dynapps_emu_exit(DYNAPPS_EMU_EXIT_PANIC);
}

/*
 * memcpy and memset a word at a time where both ends are 4-aligned, as ESP-IDF's ROM versions
 * do. picolibc's small versions go a byte at a time (about 6 instructions per byte), which made
 * every copy into RAM, an IRAM app's code above all, look several times costlier than on a chip
 * (docs/performance.md, "Load time"). The bench's time model counts these copies as the
 * instructions they execute. The loop is not turned back into a call to memcpy itself.
 */
typedef uint32_t __attribute__((may_alias)) emu_word_t;

__attribute__((optimize("no-tree-loop-distribute-patterns"))) void *memcpy(void *restrict to, const void *restrict from,
                                                                           size_t size)
{
    uint8_t *d = to;
    const uint8_t *s = from;
    if ((((uintptr_t)d | (uintptr_t)s) & 3u) == 0) {
        emu_word_t *dw = (emu_word_t *)d;
        const emu_word_t *sw = (const emu_word_t *)s;
        for (; size >= 16; size -= 16, dw += 4, sw += 4) {
            dw[0] = sw[0];
            dw[1] = sw[1];
            dw[2] = sw[2];
            dw[3] = sw[3];
        }
        for (; size >= 4; size -= 4) {
            *dw++ = *sw++;
        }
        d = (uint8_t *)dw;
        s = (const uint8_t *)sw;
    }
    while (size-- > 0) {
        *d++ = *s++;
    }
    return to;
}

__attribute__((optimize("no-tree-loop-distribute-patterns"))) void *memset(void *to, int value, size_t size)
{
    uint8_t *d = to;
    if (((uintptr_t)d & 3u) == 0) {
        uint32_t word = (uint8_t)value * 0x01010101u;
        emu_word_t *dw = (emu_word_t *)d;
        for (; size >= 16; size -= 16, dw += 4) {
            dw[0] = word;
            dw[1] = word;
            dw[2] = word;
            dw[3] = word;
        }
        for (; size >= 4; size -= 4) {
            *dw++ = word;
        }
        d = (uint8_t *)dw;
    }
    while (size-- > 0) {
        *d++ = (uint8_t)value;
    }
    return to;
}
