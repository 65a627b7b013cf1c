build-clang-san/obj/src/data/idx.o: src/data/idx.c src/data/data.h \
  src/core/core.h include/bpfree.h

src/data/data.h:

src/core/core.h:

include/bpfree.h:
