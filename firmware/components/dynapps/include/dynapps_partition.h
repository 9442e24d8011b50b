/*
 * Where the ports find app slots: the ESP-IDF partition table, in which every app slot is a data
 * partition of dynapps' own subtype, labelled with the app's name.
 *
 * The build writes the table with the same values (src/dynapps/partitions.py: APP_SLOT_SUBTYPE,
 * TABLE_OFFSET, TABLE_MAX_SIZE); tests/test_chips.py compiles this header and compares. On a
 * real chip the table is where CONFIG_PARTITION_TABLE_OFFSET says: the build reads that option from
 * the firmware's sdkconfig (src/dynapps/sdkconfig.py) and the ESP-IDF port finds slots through
 * esp_partition, which reads the same option; only the emulator port uses the offset below.
 */
#pragma once

/* Subtype of an app slot's data partition: in the range ESP-IDF leaves to users (0x40..0x7F of
 * type data have no IDF meaning). */
#define DYNAPPS_SLOT_PARTITION_SUBTYPE 0x40u

/* Flash offset of the partition table in the emulator: ESP-IDF's default
 * CONFIG_PARTITION_TABLE_OFFSET, unless the emulator firmware's build passes the project's. */
#ifndef DYNAPPS_PARTITION_TABLE_OFFSET
#define DYNAPPS_PARTITION_TABLE_OFFSET 0x8000u
#endif

/* Bytes of the table the bootloader reads: entries, the MD5 entry and the end marker fit in it. */
#define DYNAPPS_PARTITION_TABLE_MAX_SIZE 0xC00u
