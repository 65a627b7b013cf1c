build-clang-san/obj/src/core/rng.o: src/core/rng.c src/core/core.h \
  include/bpfree.h

src/core/core.h:

include/bpfree.h:
