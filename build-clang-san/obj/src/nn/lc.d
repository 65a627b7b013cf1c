build-clang-san/obj/src/nn/lc.o: src/nn/lc.c src/nn/nn.h src/core/core.h \
  include/bpfree.h

src/nn/nn.h:

src/core/core.h:

include/bpfree.h:
