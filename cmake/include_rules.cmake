# include_rules.cmake - which folder may include which of the project's
# headers. Each folder holds one process's code and one stage, and data flows
# one way (docs/architecture.md): the runtime sees only its own headers and
# the ring format; the collector the two wire formats; the reporter's stages
# each see the stages before them, and renderers the model rather than the
# capture format. Run as `cmake -DSRC=<source dir> -P include_rules.cmake`;
# it fails with one line per include that breaks a rule.

set(rule_profiler           "profiler/ring.h")
set(rule_profiler/runtime   "profiler/ring.h;profiler/runtime/")
set(rule_profiler/collector "profiler/ring.h;profiler/capture.h;profiler/collector/")
set(rule_symbolize          "symbolize/")
set(rule_report/model       "profiler/capture.h;symbolize/sym.h;report/model/")
set(rule_report/analysis    "symbolize/sym.h;report/model/;report/analysis/")
set(rule_report/render      "symbolize/sym.h;report/model/;report/analysis/;report/render/")
set(rule_report/gate        "symbolize/sym.h;report/model/;report/analysis/;report/render/;report/gate/")
set(rule_cmd                "profiler/ring.h;profiler/capture.h;profiler/collector/;symbolize/sym.h;report/;cmd/")

set(broken "")
foreach(dir profiler profiler/runtime profiler/collector symbolize
            report/model report/analysis report/render report/gate cmd)
  file(GLOB files ${SRC}/${dir}/*.c ${SRC}/${dir}/*.h ${SRC}/${dir}/*.def)
  foreach(f ${files})
    file(STRINGS ${f} lines REGEX "^#[ \t]*include[ \t]+\"")
    foreach(line ${lines})
      string(REGEX REPLACE "^#[ \t]*include[ \t]+\"([^\"]+)\".*" "\\1" inc "${line}")
      set(ok FALSE)
      foreach(prefix ${rule_${dir}})
        string(FIND "${inc}" "${prefix}" at)
        if(at EQUAL 0)
          set(ok TRUE)
        endif()
      endforeach()
      if(NOT ok)
        file(RELATIVE_PATH rel ${SRC} ${f})
        string(APPEND broken "${rel} includes \"${inc}\", which ${dir}/ may not include\n")
      endif()
    endforeach()
  endforeach()
endforeach()
if(broken)
  message(FATAL_ERROR "include rules broken (cmake/include_rules.cmake):\n${broken}")
endif()
