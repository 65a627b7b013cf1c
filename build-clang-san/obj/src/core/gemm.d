build-clang-san/obj/src/core/gemm.o: src/core/gemm.c src/core/core.h \
  include/bpfree.h \
  /usr/include/x86_64-linux-gnu/openblas-pthread/cblas.h \
  /usr/include/x86_64-linux-gnu/openblas-pthread/openblas_config.h

src/core/core.h:

include/bpfree.h:

/usr/include/x86_64-linux-gnu/openblas-pthread/cblas.h:

/usr/include/x86_64-linux-gnu/openblas-pthread/openblas_config.h:
