/*
 * The emulator machine's devices, as the emulator firmware sees them
 * (src/dynapps/emulator/devices.py implements them; tests/test_emu_firmware.py checks
 * that the register offsets below match the Python side).
 *
 * Addresses come from the chip profile (chips.py EmulatorProfile) through -D defines that
 * emulator.build_spec() puts in the compile flags:
 *   DYNAPPS_EMU_UART_BASE, DYNAPPS_EMU_CTRL_BASE, DYNAPPS_EMU_I_D_OFFSET,
 *   DYNAPPS_EMU_FLASH_IBUS_BASE, DYNAPPS_EMU_FLASH_IBUS_SIZE, DYNAPPS_EMU_FLASH_DBUS_BASE,
 *   DYNAPPS_EMU_FLASH_DBUS_SIZE, DYNAPPS_EMU_FLASH_DATA_VIEW_FROM, DYNAPPS_EMU_FLASH_SCRATCH_VADDR,
 *   DYNAPPS_EMU_MMU_PAGE_SIZE, DYNAPPS_EMU_DATA_ARENA_SIZE, DYNAPPS_EMU_PSRAM_BASE and
 *   DYNAPPS_EMU_PSRAM_SIZE (the board's PSRAM; size 0 on a chip without PSRAM); for the
 *   loader core DYNAPPS_CHIP_ID, DYNAPPS_REQUIRE_SIGNED_IMAGES (dynapps.yaml signing.require) and
 *   DYNAPPS_TRUST_MARKS (the sdkconfig's CONFIG_DYNAPPS_TRUST_MARKS, default on);
 *   and DYNAPPS_PARTITION_TABLE_OFFSET (dynapps_partition.h), the project's
 *   CONFIG_PARTITION_TABLE_OFFSET.
 */
#pragma once

/* Control block register offsets (32-bit registers). */
#define DYNAPPS_EMU_REG_EXIT 0x00       /* W: stop the machine, exit code = value */
#define DYNAPPS_EMU_REG_MARK 0x04       /* W: record (value, instruction count) for benchmarks */
#define DYNAPPS_EMU_REG_ICOUNT_LO 0x08  /* R: instructions executed, low word (latches HI) */
#define DYNAPPS_EMU_REG_ICOUNT_HI 0x0C  /* R: high word latched by the last ICOUNT_LO read */
#define DYNAPPS_EMU_REG_MMU_VADDR 0x10  /* RW: virtual address of a map / unmap request */
#define DYNAPPS_EMU_REG_MMU_OFFSET 0x14 /* RW: flash offset of a map request */
#define DYNAPPS_EMU_REG_MMU_SIZE 0x18   /* RW: bytes (rounded up to the MMU page) */
#define DYNAPPS_EMU_REG_MMU_CMD 0x1C    /* W: DYNAPPS_EMU_MMU_* below; runs the request */
#define DYNAPPS_EMU_REG_MMU_STATUS 0x20 /* R: DYNAPPS_EMU_MMU_STATUS_* of the last request */
#define DYNAPPS_EMU_REG_SYNC_ADDR 0x24  /* RW: start of a range of freshly written code */
#define DYNAPPS_EMU_REG_SYNC_SIZE 0x28  /* W: drop the emulator's translations of that range */
#define DYNAPPS_EMU_REG_FLASH_SIZE 0x2C /* R: size of the emulated flash chip */
#define DYNAPPS_EMU_REG_ID 0x30         /* R: DYNAPPS_EMU_ID */
#define DYNAPPS_EMU_REG_SHA_SRC 0x34    /* RW: address of the bytes to hash (a data-bus address) */
#define DYNAPPS_EMU_REG_SHA_LEN 0x38    /* RW: how many */
#define DYNAPPS_EMU_REG_SHA_START 0x3C  /* W: hash [SRC, SRC + LEN) now; a bad range is a fault */
#define DYNAPPS_EMU_REG_SHA_DIGEST 0x40 /* R: 8 words, 0x40..0x5C: digest bytes 4i..4i+3 of word i */
#define DYNAPPS_EMU_REG_SIG_HASH 0x60      /* RW: address of a 32-byte SHA-256 */
#define DYNAPPS_EMU_REG_SIG_SIGNATURE 0x64 /* RW: address of a 64-byte ECDSA P-256 r || s */
#define DYNAPPS_EMU_REG_SIG_KEY 0x68       /* RW: address of a 65-byte public point 04 || X || Y */
#define DYNAPPS_EMU_REG_SIG_START 0x6C     /* W: check now; a bad range is a fault */
#define DYNAPPS_EMU_REG_SIG_RESULT 0x70    /* R: 1 the signature verifies, 0 it does not */
#define DYNAPPS_EMU_REG_MMU_FLAGS 0x74  /* RW: DYNAPPS_EMU_MMU_FLAG_* of an ESP_MAP / ESP_MAP_AT request */
#define DYNAPPS_EMU_REG_FLASH_OFFSET 0x80 /* RW: flash offset of an erase / write request */
#define DYNAPPS_EMU_REG_FLASH_SRC 0x84    /* RW: write: address of the bytes to write (data bus) */
#define DYNAPPS_EMU_REG_FLASH_LEN 0x88    /* RW: bytes (erase: a multiple of the 4 KiB sector) */
#define DYNAPPS_EMU_REG_FLASH_CMD 0x8C    /* W: DYNAPPS_EMU_FLASH_* below; runs the request */
#define DYNAPPS_EMU_REG_FLASH_STATUS 0x90 /* R: DYNAPPS_EMU_FLASH_STATUS_* of the last request */

#define DYNAPPS_EMU_ID 0x554D4544u /* "DEMU" */
#define DYNAPPS_EMU_SHA_DIGEST_WORDS 8

/* MMU commands. */
#define DYNAPPS_EMU_MMU_MAP_EXEC 1 /* flash bytes at VADDR in the instruction-bus window, R+X */
#define DYNAPPS_EMU_MMU_MAP_DATA 2 /* flash bytes at VADDR in the data-bus window, R */
#define DYNAPPS_EMU_MMU_UNMAP 3    /* remove the mapping that starts at VADDR */
/* The ESP-IDF release's allocator (esp_mm), both buses at once (devices.py Mmu): */
#define DYNAPPS_EMU_MMU_ESP_MAP 4    /* esp_mmu_map: first fit; VADDR receives the data-bus address */
#define DYNAPPS_EMU_MMU_ESP_MAP_AT 5 /* esp_mmu_map_virt at data-bus VADDR (ESP-IDF >= 6.1 only) */

#define DYNAPPS_EMU_MMU_FLAG_PADDR_SHARED 1u /* ESP_MMU_MMAP_FLAG_PADDR_SHARED */

/* MMU request status. */
#define DYNAPPS_EMU_MMU_OK 0
#define DYNAPPS_EMU_MMU_MISALIGNED 1    /* vaddr or offset not on an MMU page boundary */
#define DYNAPPS_EMU_MMU_OUT_OF_WINDOW 2 /* [vaddr, vaddr + size) not inside the window */
#define DYNAPPS_EMU_MMU_BEYOND_FLASH 3  /* [offset, offset + size) not inside the flash chip */
#define DYNAPPS_EMU_MMU_OVERLAP 4       /* some page of the range is mapped already */
#define DYNAPPS_EMU_MMU_NOT_MAPPED 5    /* unmap: no mapping starts at vaddr */
#define DYNAPPS_EMU_MMU_BAD_COMMAND 6
#define DYNAPPS_EMU_MMU_PADDR_IN_USE 7  /* esp_mm: the flash range lies inside a mapped block */
#define DYNAPPS_EMU_MMU_PADDR_OVERLAP 8 /* esp_mm: it overlaps a mapped block (no PADDR_SHARED) */
#define DYNAPPS_EMU_MMU_NO_ROOM 9       /* esp_mm: no free linear range that large */
#define DYNAPPS_EMU_MMU_NO_MAP_VIRT 10  /* the modelled ESP-IDF has no mapping at a chosen address */

/* Flash erase / write (the agent's XIP push): NOR semantics, a write only clears bits. */
#define DYNAPPS_EMU_FLASH_ERASE 1 /* set [OFFSET, OFFSET + LEN) to 0xFF */
#define DYNAPPS_EMU_FLASH_WRITE 2 /* AND LEN bytes from SRC into flash at OFFSET */
#define DYNAPPS_EMU_FLASH_SECTOR_SIZE 4096
#define DYNAPPS_EMU_FLASH_OK 0
#define DYNAPPS_EMU_FLASH_MISALIGNED 1   /* erase: offset or length not on a sector boundary */
#define DYNAPPS_EMU_FLASH_BEYOND_FLASH 2 /* [offset, offset + len) not inside the flash chip */
#define DYNAPPS_EMU_FLASH_BAD_SOURCE 3   /* write: the source range is not readable */
#define DYNAPPS_EMU_FLASH_BAD_COMMAND 4

/* UART0 receive side, at the chip's own offsets (soc/<chip>/register/soc/uart_reg.h): reading
 * UART_FIFO_REG (offset 0) takes one received byte; UART_STATUS_REG bits 0..7 (rxfifo_cnt, 10
 * bits on esp32c3, 8 elsewhere; the FIFO holds 128) count the bytes waiting. */
#define DYNAPPS_EMU_UART_FIFO 0x00
#define DYNAPPS_EMU_UART_STATUS 0x1C
#define DYNAPPS_EMU_UART_RXFIFO_CNT_MASK 0xFF

/* Exit codes the platform uses. */
#define DYNAPPS_EMU_EXIT_TRAP_BASE 0x80 /* trap handler: 0x80 | (mcause & 0x7f) */
#define DYNAPPS_EMU_EXIT_PANIC 0x7F     /* dynapps_emu_panic() */
#define DYNAPPS_EMU_EXIT_SIGNAL_BASE 128 /* raise(): 128 + signal; abort() = 134 */

#ifndef __ASSEMBLER__

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define DYNAPPS_EMU_REG(offset) (*(volatile uint32_t *)(uintptr_t)(DYNAPPS_EMU_CTRL_BASE + (offset)))

static inline void dynapps_emu_uart_putc(char c)
{
    *(volatile uint32_t *)(uintptr_t)DYNAPPS_EMU_UART_BASE = (uint8_t)c;
}

/* Bytes waiting in the UART's RX FIFO. Where the machine's UART is bridged to the host (a pty),
 * a read that finds it empty waits up to 1 ms of wall time for input, so a firmware polling
 * this register idles instead of spinning, and each empty answer stands for 1 ms. */
static inline uint32_t dynapps_emu_uart_rx_count(void)
{
    return *(volatile uint32_t *)(uintptr_t)(DYNAPPS_EMU_UART_BASE + DYNAPPS_EMU_UART_STATUS) &
           DYNAPPS_EMU_UART_RXFIFO_CNT_MASK;
}

static inline uint8_t dynapps_emu_uart_getc(void)
{
    return (uint8_t)*(volatile uint32_t *)(uintptr_t)(DYNAPPS_EMU_UART_BASE + DYNAPPS_EMU_UART_FIFO);
}

/* One flash erase or write request; returns DYNAPPS_EMU_FLASH_* status. */
static inline uint32_t dynapps_emu_flash(uint32_t command, uint32_t offset, const void *source, uint32_t size)
{
    DYNAPPS_EMU_REG(DYNAPPS_EMU_REG_FLASH_OFFSET) = offset;
    DYNAPPS_EMU_REG(DYNAPPS_EMU_REG_FLASH_SRC) = (uint32_t)(uintptr_t)source;
    DYNAPPS_EMU_REG(DYNAPPS_EMU_REG_FLASH_LEN) = size;
    DYNAPPS_EMU_REG(DYNAPPS_EMU_REG_FLASH_CMD) = command;
    return DYNAPPS_EMU_REG(DYNAPPS_EMU_REG_FLASH_STATUS);
}

static inline __attribute__((noreturn)) void dynapps_emu_exit(int code)
{
    DYNAPPS_EMU_REG(DYNAPPS_EMU_REG_EXIT) = (uint32_t)code;
    for (;;) {
    }
}

/* Benchmarks: the Python side records (value, instructions so far) for each mark. */
static inline void dynapps_emu_mark(uint32_t value)
{
    DYNAPPS_EMU_REG(DYNAPPS_EMU_REG_MARK) = value;
}

/* Instructions executed so far; 0 unless the machine counts (Machine(count_instructions=True)). */
static inline uint64_t dynapps_emu_instructions(void)
{
    uint32_t lo = DYNAPPS_EMU_REG(DYNAPPS_EMU_REG_ICOUNT_LO);
    uint32_t hi = DYNAPPS_EMU_REG(DYNAPPS_EMU_REG_ICOUNT_HI);
    return ((uint64_t)hi << 32) | lo;
}

/* One MMU request; returns DYNAPPS_EMU_MMU_* status. */
static inline uint32_t dynapps_emu_mmu(uint32_t command, uintptr_t vaddr, uint32_t flash_offset,
                                       uint32_t size)
{
    DYNAPPS_EMU_REG(DYNAPPS_EMU_REG_MMU_VADDR) = (uint32_t)vaddr;
    DYNAPPS_EMU_REG(DYNAPPS_EMU_REG_MMU_OFFSET) = flash_offset;
    DYNAPPS_EMU_REG(DYNAPPS_EMU_REG_MMU_SIZE) = size;
    DYNAPPS_EMU_REG(DYNAPPS_EMU_REG_MMU_CMD) = command;
    return DYNAPPS_EMU_REG(DYNAPPS_EMU_REG_MMU_STATUS);
}

/* An esp_mm request (DYNAPPS_EMU_MMU_ESP_MAP / _ESP_MAP_AT); *vaddr in: where (MAP_AT), out: the
 * data-bus address of the mapping. Returns DYNAPPS_EMU_MMU_* status. */
static inline uint32_t dynapps_emu_mmu_esp(uint32_t command, uintptr_t *vaddr, uint32_t flash_offset,
                                           uint32_t size, uint32_t flags)
{
    DYNAPPS_EMU_REG(DYNAPPS_EMU_REG_MMU_FLAGS) = flags;
    uint32_t status = dynapps_emu_mmu(command, *vaddr, flash_offset, size);
    *vaddr = DYNAPPS_EMU_REG(DYNAPPS_EMU_REG_MMU_VADDR);
    return status;
}

/* Code was written at [addr, addr + size) (either alias): make instruction fetch see it. */
static inline void dynapps_emu_sync_code(uintptr_t addr, size_t size)
{
    DYNAPPS_EMU_REG(DYNAPPS_EMU_REG_SYNC_ADDR) = (uint32_t)addr;
    DYNAPPS_EMU_REG(DYNAPPS_EMU_REG_SYNC_SIZE) = (uint32_t)size;
}

/*
 * SHA-256 of `size` bytes at `data` by the emulator's SHA engine (emulator/devices.py), standing in for
 * the chip's SHA accelerator. Fixed cost, whatever the length (the engine itself takes no
 * instructions): 3 register writes, 8 reads and the stores of the digest, about 40 instructions
 * with a 4-aligned `digest`. `data` must be readable
 * by a data load (SRAM through its data alias, the flash data-bus window), else the machine
 * stops with a "sha_read" fault. `digest` may have any alignment.
 */
static inline void dynapps_emu_sha256(const void *data, size_t size, uint8_t digest[32])
{
    DYNAPPS_EMU_REG(DYNAPPS_EMU_REG_SHA_SRC) = (uint32_t)(uintptr_t)data;
    DYNAPPS_EMU_REG(DYNAPPS_EMU_REG_SHA_LEN) = (uint32_t)size;
    DYNAPPS_EMU_REG(DYNAPPS_EMU_REG_SHA_START) = 1u;
    if (((uintptr_t)digest & 3u) == 0) {
        for (unsigned i = 0; i < DYNAPPS_EMU_SHA_DIGEST_WORDS; i++) {
            uint32_t word = DYNAPPS_EMU_REG(DYNAPPS_EMU_REG_SHA_DIGEST + 4u * i);
            memcpy(__builtin_assume_aligned(digest + 4u * i, 4), &word, sizeof word);
        }
        return;
    }
    for (unsigned i = 0; i < DYNAPPS_EMU_SHA_DIGEST_WORDS; i++) {
        uint32_t word = DYNAPPS_EMU_REG(DYNAPPS_EMU_REG_SHA_DIGEST + 4u * i);
        memcpy(digest + 4u * i, &word, sizeof word);
    }
}

/*
 * Whether `signature` signs `hash` for `public_key`, by the emulator's signature checker
 * (emulator/devices.py, SignatureChecker), standing in for Mbed TLS on a chip. The three must be
 * readable by a data load, like the SHA engine's input, else the machine stops with a
 * "sig_read" fault. Fixed cost: 4 register writes and a read.
 */
static inline bool dynapps_emu_verify_signature(const uint8_t *hash, const uint8_t *signature,
                                                const uint8_t *public_key)
{
    DYNAPPS_EMU_REG(DYNAPPS_EMU_REG_SIG_HASH) = (uint32_t)(uintptr_t)hash;
    DYNAPPS_EMU_REG(DYNAPPS_EMU_REG_SIG_SIGNATURE) = (uint32_t)(uintptr_t)signature;
    DYNAPPS_EMU_REG(DYNAPPS_EMU_REG_SIG_KEY) = (uint32_t)(uintptr_t)public_key;
    DYNAPPS_EMU_REG(DYNAPPS_EMU_REG_SIG_START) = 1u;
    return DYNAPPS_EMU_REG(DYNAPPS_EMU_REG_SIG_RESULT) == 1u;
}

static inline uint32_t dynapps_emu_flash_size(void)
{
    return DYNAPPS_EMU_REG(DYNAPPS_EMU_REG_FLASH_SIZE);
}

/* Print "panic: <message>" on the UART and stop with DYNAPPS_EMU_EXIT_PANIC (no stdio used). */
__attribute__((noreturn)) void dynapps_emu_panic(const char *message);

/* The emulator port's heap (port/emulator/dynapps_port_emulator.c). */
size_t dynapps_emu_heap_free(void);  /* bytes in free blocks, headers included */
size_t dynapps_emu_heap_total(void); /* what dynapps_emu_heap_free() returns when all is free */
int dynapps_emu_heap_check(void);    /* 0 if the free list is consistent */
/* Its PSRAM heap (PSRAM images), the same kind; 0 free and consistent without PSRAM. */
size_t dynapps_emu_psram_free(void);
int dynapps_emu_psram_check(void);

#endif /* __ASSEMBLER__ */
