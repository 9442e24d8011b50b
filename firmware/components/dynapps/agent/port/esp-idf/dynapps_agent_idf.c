/*
 * The agent's ESP-IDF port (docs/live.md): a FreeRTOS task serving the protocol core
 * (agent/dynapps_agent.c) over the transport Kconfig chooses, UART (CONFIG_DYNAPPS_AGENT_UART),
 * USB-Serial-JTAG (CONFIG_DYNAPPS_AGENT_USB_SERIAL_JTAG) or TinyUSB CDC-ACM on the USB OTG port
 * (CONFIG_DYNAPPS_AGENT_TINYUSB_CDC, the esp_tinyusb component >= 2.0). Compiled only with
 * CONFIG_DYNAPPS_AGENT (CMakeLists.txt). Every read blocks with a timeout, so the task yields
 * and never starves the idle task's watchdog; a host that goes away mid-frame costs one
 * DYNAPPS_AGENT_FRAME_TIMEOUT_MS.
 */
#include "sdkconfig.h"

#if CONFIG_DYNAPPS_AGENT

#include <string.h>

#include "dynapps_agent.h"
#include "dynapps_agent_port.h"
#include "esp_heap_caps.h"
#include "esp_log.h"
#include "esp_partition.h"
#include "esp_random.h"
#include "freertos/FreeRTOS.h"
#include "freertos/task.h"

#if CONFIG_DYNAPPS_AGENT_UART
#include "driver/uart.h"
#elif CONFIG_DYNAPPS_AGENT_TINYUSB_CDC
#if !__has_include("tinyusb_cdc_acm.h") || !__has_include("tinyusb_default_config.h")
#error "the TinyUSB CDC transport needs espressif/esp_tinyusb >= 2.0 (idf.py add-dependency \"espressif/esp_tinyusb^2\")"
#endif
#include "freertos/semphr.h"
#include "tinyusb.h"
#include "tinyusb_cdc_acm.h"
#include "tinyusb_default_config.h"
#else
#include "driver/usb_serial_jtag.h"
#endif

static const char *TAG = "dynapps_agent";

#define RX_BUFFER_SIZE 4096
#define TX_BUFFER_SIZE 2048

static TickType_t ticks(uint32_t ms)
{
    TickType_t t = pdMS_TO_TICKS(ms);
    return t ? t : 1;
}

#if CONFIG_DYNAPPS_AGENT_UART

static esp_err_t transport_start(void)
{
    const uart_port_t port = CONFIG_DYNAPPS_AGENT_UART_NUM;
    if (uart_is_driver_installed(port)) {
        return ESP_OK; /* the application's own configuration (baud rate, pins) stays */
    }
    const uart_config_t config = {
        .baud_rate = CONFIG_DYNAPPS_AGENT_UART_BAUD,
        .data_bits = UART_DATA_8_BITS,
        .parity = UART_PARITY_DISABLE,
        .stop_bits = UART_STOP_BITS_1,
        .flow_ctrl = UART_HW_FLOWCTRL_DISABLE,
        .source_clk = UART_SCLK_DEFAULT,
    };
    esp_err_t err = uart_param_config(port, &config);
    if (err == ESP_OK) {
        err = uart_driver_install(port, RX_BUFFER_SIZE, TX_BUFFER_SIZE, 0, NULL, 0);
    }
    return err;
}

static size_t transport_read(void *context, uint8_t *data, size_t size, uint32_t timeout_ms)
{
    (void)context;
    int got = uart_read_bytes(CONFIG_DYNAPPS_AGENT_UART_NUM, data, (uint32_t)size, ticks(timeout_ms));
    return got > 0 ? (size_t)got : 0;
}

static void transport_write(void *context, const uint8_t *data, size_t size)
{
    (void)context;
    uart_write_bytes(CONFIG_DYNAPPS_AGENT_UART_NUM, data, size); /* one call: never split by logs */
}

#elif CONFIG_DYNAPPS_AGENT_TINYUSB_CDC

/* esp_tinyusb's CDC read does not block: its receive callback (TinyUSB's task) wakes the agent's
 * read through this semaphore, so a read waits for data with a timeout instead of polling. */
static SemaphoreHandle_t cdc_received;

static void cdc_on_receive(int itf, cdcacm_event_t *event)
{
    (void)itf;
    (void)event;
    xSemaphoreGive(cdc_received);
}

static esp_err_t transport_start(void)
{
    /* Made once: a start that failed further on (no USB driver, no task) keeps it for the next
     * dynapps_agent_start instead of leaking one semaphore per attempt. */
    if (!cdc_received) {
        cdc_received = xSemaphoreCreateBinary();
    }
    if (!cdc_received) {
        return ESP_ERR_NO_MEM;
    }
    const tinyusb_config_t usb = TINYUSB_DEFAULT_CONFIG();
    esp_err_t err = tinyusb_driver_install(&usb);
    if (err != ESP_OK && err != ESP_ERR_INVALID_STATE) { /* INVALID_STATE: the application's own */
        return err;
    }
    const tinyusb_config_cdcacm_t cdc = {.cdc_port = TINYUSB_CDC_ACM_0, .callback_rx = cdc_on_receive};
    return tinyusb_cdcacm_init(&cdc);
}

static size_t transport_read(void *context, uint8_t *data, size_t size, uint32_t timeout_ms)
{
    (void)context;
    const TickType_t start = xTaskGetTickCount(), timeout = ticks(timeout_ms);
    for (;;) {
        size_t got = 0;
        if (tinyusb_cdcacm_read(TINYUSB_CDC_ACM_0, data, size, &got) == ESP_OK && got > 0) {
            return got;
        }
        /* A wake-up left from data read already makes one more empty pass, not an early return. */
        const TickType_t waited = xTaskGetTickCount() - start;
        if (waited >= timeout || xSemaphoreTake(cdc_received, timeout - waited) != pdTRUE) {
            return 0;
        }
    }
}

static void transport_write(void *context, const uint8_t *data, size_t size)
{
    (void)context;
    /* The queue takes what fits in esp_tinyusb's TX FIFO; each flush makes room for the rest. */
    while (size > 0) {
        size_t queued = tinyusb_cdcacm_write_queue(TINYUSB_CDC_ACM_0, data, size);
        if (tinyusb_cdcacm_write_flush(TINYUSB_CDC_ACM_0, ticks(DYNAPPS_AGENT_FRAME_TIMEOUT_MS)) != ESP_OK) {
            return; /* no host reading: drop the rest, the host times out and says so */
        }
        data += queued;
        size -= queued;
    }
}

#else /* USB-Serial-JTAG */

static esp_err_t transport_start(void)
{
    usb_serial_jtag_driver_config_t config = {.tx_buffer_size = TX_BUFFER_SIZE, .rx_buffer_size = RX_BUFFER_SIZE};
    esp_err_t err = usb_serial_jtag_driver_install(&config);
    return err == ESP_ERR_INVALID_STATE ? ESP_OK : err; /* installed already (the console's) */
}

static size_t transport_read(void *context, uint8_t *data, size_t size, uint32_t timeout_ms)
{
    (void)context;
    int got = usb_serial_jtag_read_bytes(data, (uint32_t)size, ticks(timeout_ms));
    return got > 0 ? (size_t)got : 0;
}

static void transport_write(void *context, const uint8_t *data, size_t size)
{
    (void)context;
    while (size > 0) {
        int sent = usb_serial_jtag_write_bytes(data, size, ticks(DYNAPPS_AGENT_FRAME_TIMEOUT_MS));
        if (sent <= 0) {
            return; /* no host reading: drop the rest, the host times out and says so */
        }
        data += sent;
        size -= (size_t)sent;
    }
}

#endif

/* ---------------------------------------------------------------- port hooks */

void *dynapps_agent_port_alloc(size_t size)
{
    return heap_caps_malloc(size, MALLOC_CAP_INTERNAL | MALLOC_CAP_8BIT);
}

void dynapps_agent_port_free(void *ptr)
{
    heap_caps_free(ptr);
}

void dynapps_agent_port_heap(uint32_t free_bytes[DYNAPPS_AGENT_HEAP_KINDS])
{
    free_bytes[0] = (uint32_t)heap_caps_get_free_size(MALLOC_CAP_INTERNAL | MALLOC_CAP_8BIT);
    free_bytes[1] = (uint32_t)heap_caps_get_free_size(MALLOC_CAP_EXEC);
    free_bytes[2] = (uint32_t)heap_caps_get_free_size(MALLOC_CAP_SPIRAM);
}

uint32_t dynapps_agent_port_session_start(void)
{
    return esp_random();
}

/* slot->id is the slot's esp_partition_t, as the loader's port found it (dynapps_port_find_slot). */
static const esp_partition_t *slot_partition(const dynapps_slot_t *slot)
{
    return (const esp_partition_t *)slot->id;
}

int dynapps_agent_port_flash_erase(const dynapps_slot_t *slot, uint32_t offset, uint32_t size)
{
    const esp_partition_t *partition = slot_partition(slot);
    return partition && esp_partition_erase_range(partition, offset, size) == ESP_OK ? 0 : -1;
}

int dynapps_agent_port_flash_write(const dynapps_slot_t *slot, uint32_t offset, const void *data, uint32_t size)
{
    const esp_partition_t *partition = slot_partition(slot);
    return partition && esp_partition_write(partition, offset, data, size) == ESP_OK ? 0 : -1;
}

int dynapps_agent_port_flash_read(const dynapps_slot_t *slot, uint32_t offset, void *data, uint32_t size)
{
    const esp_partition_t *partition = slot_partition(slot);
    return partition && esp_partition_read(partition, offset, data, size) == ESP_OK ? 0 : -1;
}

/* ---------------------------------------------------------------- the task */

static void agent_task(void *argument)
{
    static const dynapps_agent_transport_t transport = {transport_read, transport_write, NULL};
    (void)argument;
    for (;;) {
        dynapps_agent_poll(&transport, 1000);
    }
}

int dynapps_agent_start(void)
{
    static TaskHandle_t task;
    if (task) {
        return 0;
    }
    esp_err_t err = transport_start();
    if (err != ESP_OK) {
        ESP_LOGE(TAG, "transport: %s", esp_err_to_name(err));
        return -1;
    }
    if (xTaskCreate(agent_task, "dynapps_agent", CONFIG_DYNAPPS_AGENT_TASK_STACK, NULL,
                    CONFIG_DYNAPPS_AGENT_TASK_PRIORITY, &task) != pdPASS) {
        ESP_LOGE(TAG, "no memory for the agent task");
        return -1;
    }
    ESP_LOGW(TAG, "live agent serving protocol %u: anyone on this port can run code (docs/live.md)",
             DYNAPPS_AGENT_PROTOCOL_VERSION);
    return 0;
}

#endif /* CONFIG_DYNAPPS_AGENT */
