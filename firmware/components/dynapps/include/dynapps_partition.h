/*
 * Where the ports find app slots: the ESP-IDF partition table, in which every app slot is a data
 * partition of dynapps' own subtype, labelled with the app's name.
 *
 * The build writes the table with the same values (src/dynapps/partitions.py: APP_SLOT_SUBTYPE,
 * TABLE_OFFSET, TABLE_MAX_SIZE); tests/test_chips.py compiles this header and compares. The
 * ESP-IDF bootloader reads the table at CONFIG_PARTITION_TABLE_OFFSET (firmware/sdkconfig.defaults),
 * which must be this offset too (the ESP-IDF port checks it at compile time).
 */
#pragma once

/* Subtype of an app slot's data partition: in the range ESP-IDF leaves to users (0x40..0x7F of
 * type data have no IDF meaning). */
#define DYNAPPS_SLOT_PARTITION_SUBTYPE 0x40u

/* Flash offset of the partition table (ESP-IDF's default CONFIG_PARTITION_TABLE_OFFSET). */
#define DYNAPPS_PARTITION_TABLE_OFFSET 0x8000u

/* Bytes of the table the bootloader reads: entries, the MD5 entry and the end marker fit in it. */
#define DYNAPPS_PARTITION_TABLE_MAX_SIZE 0xC00u
