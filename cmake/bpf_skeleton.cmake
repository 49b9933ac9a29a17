# kview_bpf_skeleton(NAME SOURCE DEPENDS...): compiles SOURCE (a libbpf
# .bpf.c, relative to the calling directory) with clang into
# <binary dir>/NAME.bpf.o and generates its bpftool skeleton NAME.skel.h
# there; sets NAME_SKEL to that header's path in the caller's scope (list
# it among a target's sources, with the binary dir as include directory).
# One rule for the CLI's actions and the benchmark's programs.
find_program(CLANG clang REQUIRED)
find_program(BPFTOOL bpftool PATHS /usr/sbin REQUIRED)
function(kview_bpf_skeleton name source)
    set(obj ${CMAKE_CURRENT_BINARY_DIR}/${name}.bpf.o)
    set(skel ${CMAKE_CURRENT_BINARY_DIR}/${name}.skel.h)
    add_custom_command(OUTPUT ${skel}
        COMMAND ${CLANG} -O2 -g -target bpf -D__TARGET_ARCH_x86 -I/usr/include/x86_64-linux-gnu
                -I${CMAKE_SOURCE_DIR}/include/uapi
                -c ${CMAKE_CURRENT_SOURCE_DIR}/${source} -o ${obj}
        COMMAND ${BPFTOOL} gen skeleton ${obj} name ${name} > ${skel}
        DEPENDS ${source} ${ARGN} ${CMAKE_SOURCE_DIR}/include/uapi/linux/kview.h
        COMMENT "BPF skeleton ${name}.skel.h")
    set(${name}_SKEL ${skel} PARENT_SCOPE)
endfunction()
