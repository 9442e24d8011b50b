/*
 * Introspection (docs/loader-api.md, "Listing the loaded apps"), run by
 * tests/test_loader_introspect.py under ASan/UBSan with a real mutex in the host port:
 * dynapps_next_loaded walks the live apps and copies each one's info out under the lock;
 * dynapps_find_loaded names one by its name. Neither ever gives out a stale handle nor shows an
 * app whose init or deinit is running.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "dynapps.h"
#include "dynapps_image.h"
#include "dynapps_internal.h"
#include "host_port.h"
#include "image_builder.h"
#include "tiny_app.h"

/* ---- call hooks: init and deinit can look at the list while their app is not live ---------- */

static int seen_during_hook = -1; /* apps the list showed from inside the last init/deinit */
static int list_during_hooks;     /* whether init/deinit list the apps */

static int count_loaded(void);

int dynapps_call_init(uintptr_t address)
{
    (void)address;
    CHECK(!host_port_lock_held());
    if (list_during_hooks) {
        seen_during_hook = count_loaded();
    }
    return 0;
}

void dynapps_call_deinit(uintptr_t address)
{
    (void)address;
    CHECK(!host_port_lock_held());
    if (list_during_hooks) {
        seen_during_hook = count_loaded();
    }
}

/* ---- images ------------------------------------------------------------------------------- */

#define SLOTS 3
static const char *const slot_names[SLOTS] = {"alpha", "beta", "sixteen_chars_ok"};
static uint8_t *images[SLOTS];
static size_t sizes[SLOTS];

/* The tiny app named `name`, manifest version major.minor.patch (the header carries it). */
static uint8_t *versioned_image(const char *name, uint8_t tag, uint16_t major, uint16_t minor, uint16_t patch,
                                size_t *size)
{
    uint8_t *image = tiny_image(name, tag, size);
    dynapps_image_header_t h;
    ib_read_header(image, &h);
    h.version_major = major;
    h.version_minor = minor;
    h.version_patch = patch;
    ib_write_header(image, &h);
    ib_rehash(image, *size);
    return image;
}

static void add_slots(void)
{
    for (int i = 0; i < SLOTS; i++) {
        free(images[i]);
        images[i] = versioned_image(slot_names[i], (uint8_t)('a' + i), (uint16_t)(i + 1), (uint16_t)(10 + i),
                                    (uint16_t)(100 + i), &sizes[i]);
        host_port_add_slot(slot_names[i], images[i], (uint32_t)sizes[i]);
    }
}

/* ---- helpers ------------------------------------------------------------------------------ */

static int count_loaded(void)
{
    int count = 0;
    dynapps_app_t *iter = NULL;
    dynapps_app_info_t info;
    dynapps_err_t err;
    while ((err = dynapps_next_loaded(&iter, &info)) == DYNAPPS_OK) {
        count++;
    }
    CHECK_ERR(err, DYNAPPS_ERR_NOT_FOUND);
    CHECK(iter == NULL);
    return count;
}

/* Every app the list gives: its handle (which must be live: get_info accepts it), its info equal
 * to what get_info says, in the order given. Returns how many. */
static int list(dynapps_app_t **handles, dynapps_app_info_t *infos, int capacity)
{
    int count = 0;
    dynapps_app_t *iter = NULL;
    dynapps_app_info_t info;
    while (dynapps_next_loaded(&iter, &info) == DYNAPPS_OK) {
        CHECK(count < capacity);
        if (count >= capacity) break;
        dynapps_app_info_t direct;
        CHECK_ERR(dynapps_get_info(iter, &direct), DYNAPPS_OK);
        CHECK(memcmp(&direct, &info, sizeof info) == 0);
        handles[count] = iter;
        infos[count++] = info;
    }
    return count;
}

static const dynapps_app_info_t *info_named(const dynapps_app_info_t *infos, int count, const char *name)
{
    for (int i = 0; i < count; i++) {
        if (strcmp(infos[i].name, name) == 0) return &infos[i];
    }
    return NULL;
}

/* ---- tests -------------------------------------------------------------------------------- */

static void test_nothing_loaded(void)
{
    dynapps_app_t *iter = NULL;
    dynapps_app_info_t info;
    memset(&info, 0xAB, sizeof info);
    CHECK_ERR(dynapps_next_loaded(&iter, &info), DYNAPPS_ERR_NOT_FOUND);
    CHECK(iter == NULL);
    dynapps_app_t *found = (dynapps_app_t *)&iter;
    CHECK_ERR(dynapps_find_loaded("alpha", &found), DYNAPPS_ERR_NOT_FOUND);
    CHECK(found == NULL);
}

static void test_bad_arguments(void)
{
    dynapps_app_t *iter = NULL;
    dynapps_app_info_t info;
    CHECK_ERR(dynapps_next_loaded(NULL, &info), DYNAPPS_ERR_INVALID_ARG);
    CHECK_ERR(dynapps_next_loaded(&iter, NULL), DYNAPPS_ERR_INVALID_ARG);
    CHECK_ERR(dynapps_find_loaded(NULL, &iter), DYNAPPS_ERR_INVALID_ARG);
    CHECK_ERR(dynapps_find_loaded("alpha", NULL), DYNAPPS_ERR_INVALID_ARG);
}

static void test_one_app(void)
{
    dynapps_app_t *app = NULL;
    CHECK_ERR(dynapps_load("alpha", &app), DYNAPPS_OK);
    dynapps_app_t *handles[4];
    dynapps_app_info_t infos[4];
    CHECK(list(handles, infos, 4) == 1);
    CHECK(handles[0] == app);
    CHECK(strcmp(infos[0].name, "alpha") == 0);
    CHECK(infos[0].version.major == 1 && infos[0].version.minor == 10 && infos[0].version.patch == 100);
    CHECK(infos[0].strategy == DYNAPPS_STRATEGY_IRAM && infos[0].code_size == 16 && infos[0].bss_size == 8);
    CHECK(infos[0].code_addr != 0 && infos[0].ram_bytes > 16 + 8);
    CHECK_ERR(dynapps_unload(app), DYNAPPS_OK);
}

static void test_several_apps_and_a_name_of_sixteen(void)
{
    dynapps_app_t *loaded[SLOTS];
    for (int i = 0; i < SLOTS; i++) CHECK_ERR(dynapps_load(slot_names[i], &loaded[i]), DYNAPPS_OK);
    dynapps_app_t *handles[8];
    dynapps_app_info_t infos[8];
    int count = list(handles, infos, 8);
    CHECK(count == SLOTS);
    for (int i = 0; i < SLOTS; i++) {
        const dynapps_app_info_t *info = info_named(infos, count, slot_names[i]);
        CHECK(info != NULL);
        if (info == NULL) continue;
        CHECK(info->version.major == i + 1 && info->version.minor == 10 + i && info->version.patch == 100 + i);
        CHECK(handles[info - infos] == loaded[i]);
    }
    for (int i = 0; i < SLOTS; i++) CHECK_ERR(dynapps_unload(loaded[i]), DYNAPPS_OK);
    CHECK(count_loaded() == 0);
}

static void test_after_an_unload(void)
{
    dynapps_app_t *a = NULL, *b = NULL, *c = NULL;
    CHECK_ERR(dynapps_load("alpha", &a), DYNAPPS_OK);
    CHECK_ERR(dynapps_load("beta", &b), DYNAPPS_OK);
    CHECK_ERR(dynapps_load("sixteen_chars_ok", &c), DYNAPPS_OK);
    CHECK_ERR(dynapps_unload(b), DYNAPPS_OK);
    dynapps_app_t *handles[4];
    dynapps_app_info_t infos[4];
    int count = list(handles, infos, 4);
    CHECK(count == 2 && info_named(infos, count, "beta") == NULL);
    for (int i = 0; i < count; i++) CHECK(handles[i] != b);
    CHECK_ERR(dynapps_unload(a), DYNAPPS_OK);
    CHECK_ERR(dynapps_unload(c), DYNAPPS_OK);
}

/* The cursor's app is unloaded between two steps: the walk goes on after its place, and never
 * hands out the stale handle or reads the freed record (ASan). */
static void test_cursor_unloaded_mid_walk(void)
{
    dynapps_app_t *a = NULL, *b = NULL;
    CHECK_ERR(dynapps_load("alpha", &a), DYNAPPS_OK);
    CHECK_ERR(dynapps_load("beta", &b), DYNAPPS_OK);
    dynapps_app_t *iter = NULL;
    dynapps_app_info_t info;
    CHECK_ERR(dynapps_next_loaded(&iter, &info), DYNAPPS_OK);
    dynapps_app_t *first = iter, *other = first == a ? b : a;
    CHECK_ERR(dynapps_unload(first), DYNAPPS_OK);
    CHECK_ERR(dynapps_next_loaded(&iter, &info), DYNAPPS_OK);
    CHECK(iter == other);
    CHECK_ERR(dynapps_next_loaded(&iter, &info), DYNAPPS_ERR_NOT_FOUND);
    CHECK_ERR(dynapps_unload(other), DYNAPPS_OK);
}

static void test_find_loaded_hit_and_miss(void)
{
    dynapps_app_t *a = NULL, *b = NULL, *found = NULL;
    CHECK_ERR(dynapps_load("alpha", &a), DYNAPPS_OK);
    CHECK_ERR(dynapps_load("beta", &b), DYNAPPS_OK);
    CHECK_ERR(dynapps_find_loaded("beta", &found), DYNAPPS_OK);
    CHECK(found == b);
    CHECK_ERR(dynapps_find_loaded("alpha", &found), DYNAPPS_OK);
    CHECK(found == a);
    found = a;
    CHECK_ERR(dynapps_find_loaded("gamma", &found), DYNAPPS_ERR_NOT_FOUND);
    CHECK(found == NULL);
    CHECK_ERR(dynapps_find_loaded("alph", &found), DYNAPPS_ERR_NOT_FOUND); /* a prefix is not the name */
    CHECK_ERR(dynapps_find_loaded("", &found), DYNAPPS_ERR_NOT_FOUND);
    CHECK_ERR(dynapps_unload(b), DYNAPPS_OK);
    CHECK_ERR(dynapps_find_loaded("beta", &found), DYNAPPS_ERR_NOT_FOUND); /* never the stale handle */
    CHECK(found == NULL);
    CHECK_ERR(dynapps_load("beta", &b), DYNAPPS_OK);
    CHECK_ERR(dynapps_find_loaded("beta", &found), DYNAPPS_OK);
    CHECK(found == b);
    CHECK_ERR(dynapps_unload(a), DYNAPPS_OK);
    CHECK_ERR(dynapps_unload(b), DYNAPPS_OK);
}

/* An app loaded from a RAM buffer has its name too, and keeps it after the buffer is freed. */
static void test_buffer_app_keeps_its_name(void)
{
    size_t size;
    uint8_t *image = versioned_image("buffered", 'z', 7, 8, 9, &size);
    dynapps_app_t *app = NULL, *found = NULL;
    CHECK_ERR(dynapps_load_from_buffer(image, size, &app), DYNAPPS_OK);
    memset(image, 0, size);
    free(image);
    CHECK_ERR(dynapps_find_loaded("buffered", &found), DYNAPPS_OK);
    CHECK(found == app);
    dynapps_app_info_t info;
    CHECK_ERR(dynapps_get_info(app, &info), DYNAPPS_OK);
    CHECK(strcmp(info.name, "buffered") == 0 && info.version.major == 7 && info.version.patch == 9);
    CHECK_ERR(dynapps_unload(app), DYNAPPS_OK);
}

/* init and deinit run without the lock and may list the apps: their own app is not in it. */
static void test_list_from_init_and_deinit(void)
{
    dynapps_app_t *a = NULL, *b = NULL, *found = (dynapps_app_t *)&a;
    CHECK_ERR(dynapps_load("alpha", &a), DYNAPPS_OK);
    list_during_hooks = 1;
    CHECK_ERR(dynapps_load("beta", &b), DYNAPPS_OK);
    CHECK(seen_during_hook == 1); /* alpha only: beta's init was running */
    CHECK_ERR(dynapps_unload(a), DYNAPPS_OK);
    CHECK(seen_during_hook == 1); /* beta only: alpha's deinit was running */
    list_during_hooks = 0;
    CHECK_ERR(dynapps_find_loaded("alpha", &found), DYNAPPS_ERR_NOT_FOUND);
    CHECK_ERR(dynapps_unload(b), DYNAPPS_OK);
}

/* ---- runner ------------------------------------------------------------------------------- */

static void before(void)
{
    seen_during_hook = -1;
    list_during_hooks = 0;
    add_slots();
}

static void after(void) { CHECK_CLEAN(); }

#define TEST(fn) {#fn, fn}

int main(int argc, char **argv)
{
    static const tiny_test_t tests[] = {
        TEST(test_nothing_loaded),
        TEST(test_bad_arguments),
        TEST(test_one_app),
        TEST(test_several_apps_and_a_name_of_sixteen),
        TEST(test_after_an_unload),
        TEST(test_cursor_unloaded_mid_walk),
        TEST(test_find_loaded_hit_and_miss),
        TEST(test_buffer_app_keeps_its_name),
        TEST(test_list_from_init_and_deinit),
    };
    int result = tiny_run(tests, sizeof tests / sizeof tests[0], &failures, before, after, 10, argc, argv);
    for (int i = 0; i < SLOTS; i++) free(images[i]);
    return result;
}
