build-clang-san/obj/src/data/dir.o: src/data/dir.c src/data/data.h \
  src/core/core.h include/bpfree.h

src/data/data.h:

src/core/core.h:

include/bpfree.h:
