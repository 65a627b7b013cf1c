build-clang-san/obj/src/nn/loss.o: src/nn/loss.c src/nn/nn.h \
  src/core/core.h include/bpfree.h

src/nn/nn.h:

src/core/core.h:

include/bpfree.h:
