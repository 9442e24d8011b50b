# dynapps inside `idf.py build` (docs/idf-integration.md).
#
# ESP-IDF includes this file inside the project's project() call, once the sdkconfig is known and
# before any component's CMakeLists.txt runs. That is the one point where the apps can still give
# the firmware its partition table: ESP-IDF reads the CSV at configure time (partition_table and
# esptool_py look up partition offsets with parttool.py then), so a function called after
# project() would come too late. dynapps is therefore switched on by the project itself:
#
#   a dynapps.yaml in the ESP-IDF project folder, or
#   set(DYNAPPS_PROJECT_DIR <folder with dynapps.yaml>) in the project's CMakeLists.txt before project().
#
# Then, at configure time, `python -m dynapps generate` writes the wrappers, the export table,
# partitions.csv and build/idf-apps.cmake (no compiling); this component compiles the wrappers and
# the export table; a build step runs `python -m dynapps apps` (the apps' images) before the
# firmware is compiled; `idf.py flash` writes every app slot; `idf.py dynapps-flash` only the
# slots that changed. The Python is ESP-IDF's own: dynapps must be pip-installed into it.

idf_build_get_property(__dynapps_project_dir PROJECT_DIR)
if(NOT DEFINED DYNAPPS_PROJECT_DIR AND EXISTS "${__dynapps_project_dir}/dynapps.yaml")
    set(DYNAPPS_PROJECT_DIR "${__dynapps_project_dir}")
endif()

if(BOOTLOADER_BUILD OR NOT DEFINED DYNAPPS_PROJECT_DIR)  # BOOTLOADER_BUILD: set by its subproject
    # The bootloader's own build, or a project without apps: only the loader component.
    idf_build_set_property(DYNAPPS_ENABLED FALSE)
else()
    include("${CMAKE_CURRENT_LIST_DIR}/dynapps_idf.cmake")
    __dynapps_configure("${DYNAPPS_PROJECT_DIR}")
endif()
