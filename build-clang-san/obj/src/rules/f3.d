build-clang-san/obj/src/rules/f3.o: src/rules/f3.c src/rules/rules.h \
  src/engine/engine.h src/nn/nn.h src/core/core.h include/bpfree.h \
  src/optim/optim.h

src/rules/rules.h:

src/engine/engine.h:

src/nn/nn.h:

src/core/core.h:

include/bpfree.h:

src/optim/optim.h:
