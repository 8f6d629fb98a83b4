# Compiler flags shared by every mpswitch target.
# Aggregates with default member initialisers are meant to be initialised partly ({egress, csrc}):
# -Wextra would flag every such use.
add_compile_options(-Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers)
if(CMAKE_BUILD_TYPE STREQUAL "Release" OR CMAKE_BUILD_TYPE STREQUAL "RelWithDebInfo")
  # The build machine is the run machine for the benchmarks; packaged builds may override.
  set(MPSWITCH_MARCH "native" CACHE STRING "-march value for Release builds")
  add_compile_options(-march=${MPSWITCH_MARCH})
endif()
if(MPSWITCH_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()
if(MPSWITCH_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "MPSWITCH_FUZZ needs clang (CXX=clang++)")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()
