build-clang-san/obj/src/core/vec.o: src/core/vec.c src/core/core.h \
  include/bpfree.h

src/core/core.h:

include/bpfree.h:
