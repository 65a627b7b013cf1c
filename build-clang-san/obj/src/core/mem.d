build-clang-san/obj/src/core/mem.o: src/core/mem.c src/core/core.h \
  include/bpfree.h

src/core/core.h:

include/bpfree.h:
