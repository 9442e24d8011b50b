/*
 * Emulator firmware platform: picolibc's stdio on the emulator UART, _exit() through the
 * control block, abort() / signals, dynapps_emu_panic().
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
