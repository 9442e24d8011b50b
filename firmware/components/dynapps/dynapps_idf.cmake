# The functions behind project_include.cmake: dynapps' steps in an ESP-IDF build
# (docs/idf-integration.md). Each reads what the one before it stored as build properties
# (DYNAPPS_*), since they run in three places: the configure step inside project(), this
# component's CMakeLists.txt, and the end of the project's CMakeLists.txt.

if(CMAKE_VERSION VERSION_LESS 3.19)
    # cmake_language(DEFER): the app slots join the `flash` target after project() made it.
    message(FATAL_ERROR "dynapps needs CMake 3.19 or newer (this is ${CMAKE_VERSION}); "
                        "ESP-IDF's install.sh brings one")
endif()

# Configure step (inside project()): generate what the firmware build reads, check the partition
# table setting, store the rest for the component and the flash targets.
function(__dynapps_configure project_dir)
    idf_build_get_property(build_project_dir PROJECT_DIR)
    get_filename_component(project_dir "${project_dir}" ABSOLUTE BASE_DIR "${build_project_dir}")
    idf_build_get_property(python PYTHON)
    idf_build_get_property(target IDF_TARGET)
    idf_build_get_property(sdkconfig SDKCONFIG)
    set(variables CHIP=${target} SDKCONFIG=${sdkconfig})

    __dynapps_check_installed("${python}")
    message(STATUS "dynapps: apps of ${project_dir}")
    execute_process(COMMAND "${python}" -m dynapps generate ${variables} WORKING_DIRECTORY "${project_dir}"
                    RESULT_VARIABLE result OUTPUT_VARIABLE output ERROR_VARIABLE errors)
    if(NOT result EQUAL 0)
        string(STRIP "${errors}" errors)
        message(FATAL_ERROR "dynapps: ${errors}\n(ran `${python} -m dynapps generate` in ${project_dir})")
    endif()
    include("${project_dir}/build/idf-apps.cmake")
    __dynapps_check_partition_table("${project_dir}/${DYNAPPS_PARTITIONS_CSV}" "${build_project_dir}")

    # What changes the generated sources or the slots re-runs this step; any file under apps/
    # re-runs the apps' build (a new source file too: the glob is checked again at build time).
    file(GLOB manifests CONFIGURE_DEPENDS "${project_dir}/apps/*/app.yaml")
    list(TRANSFORM DYNAPPS_CONFIGURE_INPUTS PREPEND "${project_dir}/")
    set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${manifests} ${DYNAPPS_CONFIGURE_INPUTS})
    file(GLOB_RECURSE app_files CONFIGURE_DEPENDS "${project_dir}/apps/*")

    foreach(list_name DYNAPPS_GENERATED_SOURCES DYNAPPS_SLOT_IMAGES)
        list(TRANSFORM ${list_name} PREPEND "${project_dir}/")
        idf_build_set_property(${list_name} "${${list_name}}")
    endforeach()
    idf_build_set_property(DYNAPPS_SLOT_NAMES "${DYNAPPS_SLOT_NAMES}")
    idf_build_set_property(DYNAPPS_SLOT_OFFSETS "${DYNAPPS_SLOT_OFFSETS}")
    idf_build_set_property(DYNAPPS_GENERATED_DIR "${project_dir}/${DYNAPPS_GENERATED_DIR}")
    idf_build_set_property(DYNAPPS_BUILD_INPUTS "${app_files};${DYNAPPS_CONFIGURE_INPUTS};${sdkconfig}")
    idf_build_set_property(DYNAPPS_PYTHON "${python}")
    idf_build_set_property(DYNAPPS_VARIABLES "${variables}")
    idf_build_set_property(DYNAPPS_PROJECT_DIR "${project_dir}")
    idf_build_set_property(DYNAPPS_ENABLED TRUE)
    cmake_language(DEFER DIRECTORY "${CMAKE_SOURCE_DIR}" CALL __dynapps_add_flash_targets)
endfunction()

function(__dynapps_check_installed python)
    execute_process(COMMAND "${python}" -c "import dynapps" RESULT_VARIABLE result OUTPUT_QUIET ERROR_QUIET)
    if(NOT result EQUAL 0)
        message(FATAL_ERROR "dynapps: the Python package is not installed in ESP-IDF's Python "
                            "(${python}): run `${python} -m pip install dynapps` (from a checkout: "
                            "`${python} -m pip install <checkout>`)")
    endif()
endfunction()

# The firmware must use the partition table dynapps writes (ESP-IDF's partition_table component
# resolves CONFIG_PARTITION_TABLE_FILENAME against the project folder the same way).
function(__dynapps_check_partition_table generated_csv build_project_dir)
    get_filename_component(configured "${CONFIG_PARTITION_TABLE_FILENAME}" ABSOLUTE BASE_DIR "${build_project_dir}")
    get_filename_component(generated_csv "${generated_csv}" ABSOLUTE)
    if(NOT CONFIG_PARTITION_TABLE_CUSTOM OR NOT configured STREQUAL generated_csv)
        file(RELATIVE_PATH wanted "${build_project_dir}" "${generated_csv}")
        message(FATAL_ERROR "dynapps: the firmware must use the partition table with the app slots, "
                            "${generated_csv}, but its sdkconfig names ${configured}: set "
                            "CONFIG_PARTITION_TABLE_CUSTOM=y and CONFIG_PARTITION_TABLE_CUSTOM_FILENAME="
                            "\"${wanted}\" (sdkconfig.defaults, or idf.py menuconfig)")
    endif()
endfunction()

# The component's CMakeLists.txt: a build step that builds the apps (their images, and the
# wrappers again when a manifest's exports change) before the component is compiled, and the
# wrappers and the export table compiled into the component, their headers public.
function(__dynapps_build_apps component_lib)
    foreach(property PYTHON VARIABLES PROJECT_DIR GENERATED_DIR GENERATED_SOURCES BUILD_INPUTS SLOT_IMAGES)
        idf_build_get_property(${property} DYNAPPS_${property})
    endforeach()
    set(stamp "${CMAKE_CURRENT_BINARY_DIR}/dynapps-apps.stamp")
    add_custom_command(OUTPUT "${stamp}"
                       BYPRODUCTS ${GENERATED_SOURCES} ${SLOT_IMAGES}
                       COMMAND "${PYTHON}" -m dynapps apps ${VARIABLES}
                       COMMAND "${CMAKE_COMMAND}" -E touch "${stamp}"
                       DEPENDS ${BUILD_INPUTS}
                       WORKING_DIRECTORY "${PROJECT_DIR}"
                       COMMENT "dynapps: building the apps (python -m dynapps apps)"
                       USES_TERMINAL VERBATIM)
    add_custom_target(dynapps_apps ALL DEPENDS "${stamp}")
    target_sources(${component_lib} PRIVATE ${GENERATED_SOURCES})
    target_include_directories(${component_lib} PUBLIC "${GENERATED_DIR}")
    add_dependencies(${component_lib} dynapps_apps)
endfunction()

# End of the project's CMakeLists.txt (after project() made `flash`): every app slot joins
# `idf.py flash` (and flasher_args.json); `dynapps-flash` writes only the slots that changed.
function(__dynapps_add_flash_targets)
    foreach(property PYTHON VARIABLES PROJECT_DIR SLOT_NAMES SLOT_OFFSETS SLOT_IMAGES)
        idf_build_get_property(${property} DYNAPPS_${property})
    endforeach()
    if(TARGET flash)
        foreach(name offset image IN ZIP_LISTS SLOT_NAMES SLOT_OFFSETS SLOT_IMAGES)
            # Slots are plain data partitions: written as they are, also under flash encryption.
            esptool_py_flash_target_image(flash "dynapps_${name}" "${offset}" "${image}" ALWAYS_PLAINTEXT)
        endforeach()
        add_dependencies(flash dynapps_apps)
    endif()
    # idf.py passes the port and the baud rate as ESPPORT and ESPBAUD; dynapps.idf_ext reads them.
    add_custom_target(dynapps-flash
                      COMMAND "${PYTHON}" -m dynapps.idf_ext flash-apps ${VARIABLES}
                      WORKING_DIRECTORY "${PROJECT_DIR}"
                      DEPENDS dynapps_apps
                      COMMENT "dynapps: writing the app slots that changed"
                      USES_TERMINAL VERBATIM)
endfunction()
