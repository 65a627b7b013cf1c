build-clang-san/obj/src/core/build.o: src/core/build.c src/core/core.h \
  include/bpfree.h build-clang-san/gen/commit.h

src/core/core.h:

include/bpfree.h:

build-clang-san/gen/commit.h:
