build-clang-san/obj/src/data/load.o: src/data/load.c src/data/data.h \
  src/core/core.h include/bpfree.h

src/data/data.h:

src/core/core.h:

include/bpfree.h:
