build-clang-san/obj/src/data/dataset.o: src/data/dataset.c \
  src/core/core.h include/bpfree.h

src/core/core.h:

include/bpfree.h:
