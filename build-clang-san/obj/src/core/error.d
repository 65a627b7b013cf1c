build-clang-san/obj/src/core/error.o: src/core/error.c src/core/core.h \
  include/bpfree.h

src/core/core.h:

include/bpfree.h:
